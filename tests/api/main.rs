//! scimgate's integration tests: one binary, a module per area, each test
//! against a real server on a real socket and a real database.

mod browser;
mod helpers;

mod conformance_regressions;
mod consent;
mod entra_fixtures;
mod oauth_token;
mod scim_basics;
mod scim_behaviour;
mod signin;
mod simulator;
