//! scimgate's integration tests: one binary, a module per area, each test
//! against a real server on a real socket and a real database.

mod browser;
mod helpers;
mod pages;
mod seed;

mod conformance_regressions;
mod consent;
mod console_accounts;
mod console_admin;
mod console_views;
mod console_views_perf;
mod entra_fixtures;
mod events;
mod faults;
mod hostile;
mod hot_path;
mod layers;
mod mapping;
mod mapping_perf;
mod migrations;
mod oauth_token;
mod operations;
mod read_log;
mod scim_basics;
mod scim_behaviour;
mod signin;
mod simulator;
mod sso;
mod ui;
mod webhooks;
