-- case: a syntax error
-- expect: DG-L000
CREATE TABLE broken (id int,;

-- case: a misspelt keyword
-- expect: DG-L000
ALTER TABEL users ADD COLUMN x int;
