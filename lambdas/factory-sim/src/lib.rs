//! `factory-sim`: the stand-in for the legacy Factory API, and the function that deploys it.
//!
//! - [`sim`]: the stand-in itself, one for every host: this function, the local stack
//!   (`devstack` serves it at `/factory-sim`) and the orderer's unit tests;
//! - [`app`]: the deployed function's handler (its Function URL, its SQS delay queue), with
//!   [`routes`] (the Function URL's routes) and [`queue`] (the SQS adapter of the delay queue).
//!
//! Its binary (`main.rs`) reads the knobs and builds the SQS client once, then runs [`app::App`].

pub mod app;
pub mod queue;
pub mod routes;
pub mod sim;
