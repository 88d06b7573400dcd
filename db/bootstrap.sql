-- Bootstrap for the lab's database server: the throwaway MariaDB (`make db`)
-- runs this file, and docker compose mounts it into MySQL's init directory.
-- Demo credentials for a server on 127.0.0.1 only: not secrets, never reuse them.
-- Keep it valid for both MySQL 8.4 and MariaDB 10.11.

CREATE DATABASE IF NOT EXISTS demo;

-- What an application connects as.
CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app-local-only';
GRANT ALL PRIVILEGES ON demo.* TO 'app'@'%';

-- The lab's operator: KILL, SET GLOBAL, every session in the processlist,
-- performance_schema, and creating users for a single notebook.
CREATE USER IF NOT EXISTS 'admin'@'%' IDENTIFIED BY 'admin-local-only';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;

-- The account of the 1226 lab: at most two connections at a time.
CREATE USER IF NOT EXISTS 'limited'@'%' IDENTIFIED BY 'limited-local-only'
  WITH MAX_USER_CONNECTIONS 2;
GRANT ALL PRIVILEGES ON demo.* TO 'limited'@'%';

-- A small table every example may read. Notebooks that write create their own tables.
CREATE TABLE IF NOT EXISTS demo.orders (
  id INT PRIMARY KEY,
  customer VARCHAR(50) NOT NULL,
  total DECIMAL(10, 2) NOT NULL
);
INSERT IGNORE INTO demo.orders (id, customer, total) VALUES
  (1, 'ada', 12.50), (2, 'grace', 99.00), (3, 'linus', 7.25);
