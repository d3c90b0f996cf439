-- The daily inventory export sums restocks by time (Store::movements_between).
CREATE INDEX restocks_by_time ON restocks (created_at);
