//! Integration tests: the real server on 127.0.0.1:0, spoken to over HTTP. One test binary
//! (one link) with a module per area. Tests run on SQLite always and on PostgreSQL when
//! `TESSERA_TEST_POSTGRES_URL` is set.

mod support;

mod admin;
mod authorize;
mod cli;
mod discovery;
mod faults;
mod hostile;
mod keys;
mod layout;
mod multi_instance;
mod openapi;
mod ops;
mod procs;
mod token;
mod transport;
mod users;
