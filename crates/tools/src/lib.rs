//! scimgate's tools that drive a running server over HTTP: `sim`, the
//! provisioning simulator. The `scimgate` binary runs it as a subcommand;
//! it knows nothing of the server's code, only its HTTP faces.

pub mod sim;
