//! scimgate's tools that drive a running server over HTTP: `sim`, the
//! provisioning simulator, and `bench`, the benchmarks. The `scimgate`
//! binary runs them as subcommands. They know nothing of the server's code,
//! only its HTTP faces; what the benchmarks need of its store comes through
//! [`bench::ScratchDatabase`], which the binary implements.

pub mod bench;
pub mod sim;
