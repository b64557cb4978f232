-- Within the reuse grace a rotated token may mint exactly one sibling: `grace_sibling` records
-- it (a second reuse is theft), and every rotated-in token records the token it came from.
ALTER TABLE refresh_tokens ADD COLUMN grace_sibling TEXT;
ALTER TABLE refresh_tokens ADD COLUMN parent_hash TEXT;
