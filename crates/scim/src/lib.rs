//! scimgate's SCIM 2.0 protocol core: schemas, resources, the filter language, PATCH,
//! list responses and errors. Pure code: no HTTP, no SQL drivers, no sessions.

pub mod dialect;
pub mod error;
pub mod filter;
pub mod patch;
pub mod resource;
pub mod schema;

pub use dialect::Quirks;
pub use error::{ScimError, ScimType};
pub use schema::ResourceKind;
