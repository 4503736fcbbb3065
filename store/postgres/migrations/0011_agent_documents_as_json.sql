-- Agents' permissions and metadata are kept as json (the text as written) rather than
-- jsonb. Loading every agent at start-up turned each jsonb document back into text, which
-- cost the server ten times what reading the rows did. Nothing queries inside these
-- documents; rows written as jsonb keep jsonb's rendering, which reads the same.
ALTER TABLE agents
    ALTER COLUMN permissions TYPE json USING permissions::json,
    ALTER COLUMN metadata TYPE json USING metadata::json;
