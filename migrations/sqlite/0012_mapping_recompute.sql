-- A mapping save recomputes the tenant's users in steps of 1,000, each its
-- own transaction, so that other tenants' writes get the database between
-- them. While one is under way, this holds where it is and what it has
-- done (JSON, see `provision::recompute::Pending`); NULL when none is.
-- A recompute cut short by a restart is resumed from here.
ALTER TABLE mapping_rules ADD COLUMN recompute_state TEXT;
