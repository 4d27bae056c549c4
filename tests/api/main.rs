//! scimgate's integration tests: one binary, a module per area, each test
//! against a real server on a real socket and a real database.

mod helpers;

mod scim_basics;
