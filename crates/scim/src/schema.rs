//! Resource schemas (RFC 7643 §4, §8.7): the core User, core Group and
//! enterprise User definitions, case-insensitive attribute resolution, and the
//! discovery documents built from them.

use serde_json::{Map, Value, json};

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// scimgate's read-only extension carrying the role and employee groups its
/// mapping rules derive from each user's attributes.
pub const MAPPING_USER: &str = "urn:scimgate:params:scim:schemas:extension:mapping:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttrDef],
}

/// One schema: its URN and its top-level attributes.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

// ---------------------------------------------------------------------------
// Attribute-definition builders. Every default below is the RFC 7643 §2.2
// default (string, single-valued, optional, caseExact false, readWrite,
// returned default, uniqueness none), so each definition only spells out where
// it differs from the RFC's defaults.

const fn attr(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued: false,
        description,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

const fn string(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::String, description)
}

const fn boolean(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::Boolean, description)
}

const fn reference(
    name: &'static str,
    reference_types: &'static [&'static str],
    description: &'static str,
) -> AttrDef {
    attr(name, AttrType::Reference, description).refs(reference_types)
}

const fn complex(
    name: &'static str,
    sub_attributes: &'static [AttrDef],
    description: &'static str,
) -> AttrDef {
    attr(name, AttrType::Complex, description).subs(sub_attributes)
}

impl AttrDef {
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    const fn read_only(self) -> Self {
        self.mutability(Mutability::ReadOnly)
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }
    const fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }
    const fn subs(mut self, subs: &'static [AttrDef]) -> Self {
        self.sub_attributes = subs;
        self
    }

    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }
}

// ---------------------------------------------------------------------------
// Common attributes (RFC 7643 §3.1).

const META_SUBS: &[AttrDef] = &[
    string("resourceType", "The name of the resource type of the resource.")
        .case_exact()
        .read_only(),
    attr(
        "created",
        AttrType::DateTime,
        "The \"DateTime\" that the resource was added to the service provider.",
    )
    .read_only(),
    attr(
        "lastModified",
        AttrType::DateTime,
        "The most recent DateTime that the details of this resource were updated at the service provider. If this resource has never been modified since its initial creation, the value MUST be the same as the value of \"created\".",
    )
    .read_only(),
    reference("location", &["uri"], "The URI of the resource being returned. This value MUST be the same as the \"Content-Location\" HTTP response header (if returned).")
        .case_exact()
        .read_only(),
    string("version", "The version of the resource being returned. This value must be the same as the entity-tag (ETag) HTTP response header (if returned).")
        .case_exact()
        .read_only(),
];

/// `id`, `externalId` and `meta`: part of every resource, defined by no
/// resource schema.
pub static COMMON: &[AttrDef] = &[
    string("id", "A unique identifier for a SCIM resource as defined by the service provider. Each representation of the resource MUST include a non-empty \"id\" value. This identifier MUST be unique across the SCIM service provider's entire set of resources. It MUST be a stable, non-reassignable identifier that does not change when the same resource is returned in subsequent requests. The value of the \"id\" attribute is always issued by the service provider and MUST NOT be specified by the client.")
        .case_exact()
        .read_only()
        .returned(Returned::Always)
        .unique(Uniqueness::Server),
    string("externalId", "A String that is an identifier for the resource as defined by the provisioning client. The service provider MUST always interpret the externalId as scoped to the provisioning domain.")
        .case_exact(),
    complex("meta", META_SUBS, "A complex attribute containing resource metadata.").read_only(),
];

// ---------------------------------------------------------------------------
// Core User (RFC 7643 §4.1, §8.7.1).

const PRIMARY_TEXT_GENERIC: &str = "A Boolean value indicating the 'primary' or preferred attribute value for this attribute. The primary attribute value 'true' MUST appear no more than once.";
const DISPLAY_TEXT: &str = "A human-readable name, primarily used for display purposes. READ-ONLY.";

const NAME_SUBS: &[AttrDef] = &[
    string(
        "formatted",
        "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display (e.g., 'Ms. Barbara J Jensen, III').",
    ),
    string(
        "familyName",
        "The family name of the User, or last name in most Western languages (e.g., 'Jensen' given the full name 'Ms. Barbara J Jensen, III').",
    ),
    string(
        "givenName",
        "The given name of the User, or first name in most Western languages (e.g., 'Barbara' given the full name 'Ms. Barbara J Jensen, III').",
    ),
    string(
        "middleName",
        "The middle name(s) of the User (e.g., 'Jane' given the full name 'Ms. Barbara J Jensen, III').",
    ),
    string(
        "honorificPrefix",
        "The honorific prefix(es) of the User, or title in most Western languages (e.g., 'Ms.' given the full name 'Ms. Barbara J Jensen, III').",
    ),
    string(
        "honorificSuffix",
        "The honorific suffix(es) of the User, or suffix in most Western languages (e.g., 'III' given the full name 'Ms. Barbara J Jensen, III').",
    ),
];

const EMAIL_SUBS: &[AttrDef] = &[
    string(
        "value",
        "Email addresses for the user. The value SHOULD be canonicalized by the service provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'. Canonical type values of 'work', 'home', and 'other'.",
    ),
    string("display", DISPLAY_TEXT),
    string(
        "type",
        "A label indicating the attribute's function, e.g., 'work' or 'home'.",
    )
    .canonical(&["work", "home", "other"]),
    boolean(
        "primary",
        "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred mailing address or primary email address. The primary attribute value 'true' MUST appear no more than once.",
    ),
];

const PHONE_SUBS: &[AttrDef] = &[
    string("value", "Phone number of the User."),
    string("display", DISPLAY_TEXT),
    string(
        "type",
        "A label indicating the attribute's function, e.g., 'work', 'home', 'mobile'.",
    )
    .canonical(&["work", "home", "mobile", "fax", "pager", "other"]),
    boolean(
        "primary",
        "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred phone number or primary phone number. The primary attribute value 'true' MUST appear no more than once.",
    ),
];

const IM_SUBS: &[AttrDef] = &[
    string("value", "Instant messaging address for the User."),
    string("display", DISPLAY_TEXT),
    string(
        "type",
        "A label indicating the attribute's function, e.g., 'aim', 'gtalk', 'xmpp'.",
    )
    .canonical(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    boolean(
        "primary",
        "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred messenger or primary messenger. The primary attribute value 'true' MUST appear no more than once.",
    ),
];

const PHOTO_SUBS: &[AttrDef] = &[
    reference("value", &["external"], "URL of a photo of the User."),
    string("display", DISPLAY_TEXT),
    string(
        "type",
        "A label indicating the attribute's function, i.e., 'photo' or 'thumbnail'.",
    )
    .canonical(&["photo", "thumbnail"]),
    boolean(
        "primary",
        "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred photo or thumbnail. The primary attribute value 'true' MUST appear no more than once.",
    ),
];

// `primary` is listed for addresses in RFC 7643 §4.1.2 although the §8.7.1
// representation omits it; Entra sends it.
const ADDRESS_SUBS: &[AttrDef] = &[
    string(
        "formatted",
        "The full mailing address, formatted for display or use with a mailing label. This attribute MAY contain newlines.",
    ),
    string(
        "streetAddress",
        "The full street address component, which may include house number, street name, P.O. box, and multi-line extended street address information. This attribute MAY contain newlines.",
    ),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string("country", "The country name component."),
    string(
        "type",
        "A label indicating the attribute's function, e.g., 'work' or 'home'.",
    )
    .canonical(&["work", "home", "other"]),
    boolean(
        "primary",
        "A Boolean value indicating the 'primary' or preferred attribute value for this attribute, e.g., the preferred mailing address. The primary attribute value 'true' MUST appear no more than once.",
    ),
];

const USER_GROUP_SUBS: &[AttrDef] = &[
    string("value", "The identifier of the User's group.").read_only(),
    reference(
        "$ref",
        &["User", "Group"],
        "The URI of the corresponding 'Group' resource to which the user belongs.",
    )
    .read_only(),
    string("display", DISPLAY_TEXT).read_only(),
    string(
        "type",
        "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.",
    )
    .canonical(&["direct", "indirect"])
    .read_only(),
];

const ENTITLEMENT_SUBS: &[AttrDef] = &[
    string("value", "The value of an entitlement."),
    string("display", DISPLAY_TEXT),
    string("type", "A label indicating the attribute's function."),
    boolean("primary", PRIMARY_TEXT_GENERIC),
];

const ROLE_SUBS: &[AttrDef] = &[
    string("value", "The value of a role."),
    string("display", DISPLAY_TEXT),
    string("type", "A label indicating the attribute's function."),
    boolean("primary", PRIMARY_TEXT_GENERIC),
];

const X509_SUBS: &[AttrDef] = &[
    attr(
        "value",
        AttrType::Binary,
        "The value of an X.509 certificate.",
    ),
    string("display", DISPLAY_TEXT),
    string("type", "A label indicating the attribute's function."),
    boolean("primary", PRIMARY_TEXT_GENERIC),
];

const USER_ATTRS: &[AttrDef] = &[
    string("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Each User MUST include a non-empty userName value. This identifier MUST be unique across the service provider's entire set of Users. REQUIRED.")
        .required()
        .unique(Uniqueness::Server),
    complex("name", NAME_SUBS, "The components of the user's real name. Providers MAY return just the full name as a single string in the formatted sub-attribute, or they MAY return just the individual component attributes using the other sub-attributes, or they MAY return both. If both variants are returned, they SHOULD be describing the same name, with the formatted name indicating how the component attributes should be combined."),
    string("displayName", "The name of the User, suitable for display to end-users. The name SHOULD be the full name of the User being described, if known."),
    string("nickName", "The casual way to address the user in real life, e.g., 'Bob' or 'Bobby' instead of 'Robert'. This attribute SHOULD NOT be used to represent a User's username (e.g., 'bjensen' or 'mpepperidge')."),
    reference("profileUrl", &["external"], "A fully qualified URL pointing to a page representing the User's online profile."),
    string("title", "The user's title, such as \"Vice President.\""),
    string("userType", "Used to identify the relationship between the organization and the user. Typical values used might be 'Contractor', 'Employee', 'Intern', 'Temp', 'External', and 'Unknown', but any value may be used."),
    string("preferredLanguage", "Indicates the User's preferred written or spoken language. Generally used for selecting a localized user interface; e.g., 'en_US' specifies the language English and country US."),
    string("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
    string("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
    boolean("active", "A Boolean value indicating the User's administrative status."),
    string("password", "The User's cleartext password. This attribute is intended to be used as a means to specify an initial password when creating a new User or to reset an existing User's password.")
        .mutability(Mutability::WriteOnly)
        .returned(Returned::Never),
    complex("emails", EMAIL_SUBS, "Email addresses for the user. The value SHOULD be canonicalized by the service provider, e.g., 'bjensen@example.com' instead of 'bjensen@EXAMPLE.COM'. Canonical type values of 'work', 'home', and 'other'.")
        .multi(),
    complex("phoneNumbers", PHONE_SUBS, "Phone numbers for the User. The value SHOULD be canonicalized by the service provider according to the format specified in RFC 3966, e.g., 'tel:+1-201-555-0123'. Canonical type values of 'work', 'home', 'mobile', 'fax', 'pager', and 'other'.")
        .multi(),
    complex("ims", IM_SUBS, "Instant messaging addresses for the User.").multi(),
    complex("photos", PHOTO_SUBS, "URLs of photos of the User.").multi(),
    complex("addresses", ADDRESS_SUBS, "A physical mailing address for this User. Canonical type values of 'work', 'home', and 'other'. This attribute is a complex type with the following sub-attributes.")
        .multi(),
    complex("groups", USER_GROUP_SUBS, "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.")
        .multi()
        .read_only(),
    complex("entitlements", ENTITLEMENT_SUBS, "A list of entitlements for the User that represent a thing the User has.").multi(),
    complex("roles", ROLE_SUBS, "A list of roles for the User that collectively represent who the User is, e.g., 'Student', 'Faculty'.").multi(),
    complex("x509Certificates", X509_SUBS, "A list of certificates issued to the User.").multi(),
];

pub static USER: Schema = Schema {
    id: CORE_USER,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRS,
};

// ---------------------------------------------------------------------------
// Core Group (RFC 7643 §4.2, §8.7.1).

// `display` is not in the §8.7.1 representation but the served `members`
// elements carry it (RFC 7643 §4.2 lists it among the sub-attributes of
// multi-valued attributes), so filters and projections need it defined.
const MEMBER_SUBS: &[AttrDef] = &[
    // caseExact, unlike the §8.7.1 listing: the value is a resource `id`,
    // which is caseExact, and ids differing only in case are different members.
    string("value", "Identifier of the member of this Group.")
        .case_exact()
        .mutability(Mutability::Immutable),
    reference(
        "$ref",
        &["User", "Group"],
        "The URI corresponding to a SCIM resource that is a member of this Group.",
    )
    .mutability(Mutability::Immutable),
    string("display", DISPLAY_TEXT).read_only(),
    string(
        "type",
        "A label indicating the type of resource, e.g., 'User' or 'Group'.",
    )
    .canonical(&["User", "Group"])
    .mutability(Mutability::Immutable),
];

const GROUP_ATTRS: &[AttrDef] = &[
    string(
        "displayName",
        "A human-readable name for the Group. REQUIRED.",
    )
    .required(),
    complex("members", MEMBER_SUBS, "A list of members of the Group.").multi(),
];

pub static GROUP: Schema = Schema {
    id: CORE_GROUP,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRS,
};

// ---------------------------------------------------------------------------
// Enterprise User extension (RFC 7643 §4.3, §8.7.1).

const MANAGER_SUBS: &[AttrDef] = &[
    string(
        "value",
        "The id of the SCIM resource representing the User's manager. REQUIRED.",
    ),
    reference(
        "$ref",
        &["User"],
        "The URI of the SCIM resource representing the User's manager. REQUIRED.",
    ),
    string(
        "displayName",
        "The displayName of the User's manager. OPTIONAL and READ-ONLY.",
    )
    .read_only(),
];

const ENTERPRISE_ATTRS: &[AttrDef] = &[
    string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.",
    ),
    string("costCenter", "Identifies the name of a cost center."),
    string("organization", "Identifies the name of an organization."),
    string("division", "Identifies the name of a division."),
    string("department", "Identifies the name of a department."),
    complex(
        "manager",
        MANAGER_SUBS,
        "The User's manager. A complex type that optionally allows service providers to represent organizational hierarchy by referencing the 'id' attribute of another User.",
    ),
];

/// The enterprise User extension schema. (`ENTERPRISE_USER` is its URN string,
/// kept under that name because other modules use it as such.)
pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRS,
};

// ---------------------------------------------------------------------------
// scimgate mapping extension: values derived by the tenant's mapping rules,
// never written by clients (writes are ignored as readOnly).

const MAPPING_ATTRS: &[AttrDef] = &[
    string(
        "role",
        "The product role derived from the user's attributes by the tenant's mapping rules. Absent when no rule matches. READ-ONLY.",
    )
    .read_only(),
    string(
        "groups",
        "The employee groups derived from the user's attributes by the tenant's mapping rules. READ-ONLY.",
    )
    .multi()
    .read_only(),
];

pub static MAPPING_USER_SCHEMA: Schema = Schema {
    id: MAPPING_USER,
    name: "MappingUser",
    description: "Role and employee groups derived by scimgate's mapping rules",
    attributes: MAPPING_ATTRS,
};

// ---------------------------------------------------------------------------
// Resource kinds and attribute resolution.

static USER_EXTENSIONS: [&Schema; 2] = [&ENTERPRISE_USER_SCHEMA, &MAPPING_USER_SCHEMA];

impl ResourceKind {
    /// The resource type name: `"User"` or `"Group"`.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The endpoint relative to the SCIM base: `"/Users"` or `"/Groups"`.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "/Users",
            ResourceKind::Group => "/Groups",
        }
    }

    pub fn core_schema(self) -> &'static Schema {
        match self {
            ResourceKind::User => &USER,
            ResourceKind::Group => &GROUP,
        }
    }

    pub fn extension_schemas(self) -> &'static [&'static Schema] {
        match self {
            ResourceKind::User => &USER_EXTENSIONS,
            ResourceKind::Group => &[],
        }
    }

    /// The extension schema of this kind with the URN `urn`, in any case.
    pub fn extension_schema(self, urn: &str) -> Option<&'static Schema> {
        self.extension_schemas()
            .iter()
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// `"User"` / `"Group"`, case-insensitively.
    pub fn from_name(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("User") {
            Some(ResourceKind::User)
        } else if s.eq_ignore_ascii_case("Group") {
            Some(ResourceKind::Group)
        } else {
            None
        }
    }
}

/// An attribute name resolved against a resource kind's schemas.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// The schema defining the attribute; `None` for the common attributes.
    pub schema: Option<&'static Schema>,
    pub attr: &'static AttrDef,
    /// `Some(urn)` when the attribute lives under an extension URN key in the
    /// stored document.
    pub extension: Option<&'static str>,
}

fn find_attr(attrs: &'static [AttrDef], name: &str) -> Option<&'static AttrDef> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Resolves an attribute name (case-insensitively) for a resource kind.
///
/// `urn` `None` or the core URN: the common attributes, then the core schema;
/// with `urn` `None` the extension schemas are searched last so that a bare
/// `employeeNumber` finds the enterprise attribute. An extension URN searches
/// that extension only. A `name` that itself starts with a known schema URN
/// followed by `:` or `.` is split first.
pub fn resolve(kind: ResourceKind, urn: Option<&str>, name: &str) -> Option<Resolved> {
    if urn.is_none()
        && let (Some(u), rest) = split_urn(name)
    {
        if rest.is_empty() {
            return None;
        }
        return resolve(kind, Some(u), rest);
    }
    let core = kind.core_schema();
    let search_core = |name: &str| {
        if let Some(attr) = find_attr(COMMON, name) {
            return Some(Resolved {
                schema: None,
                attr,
                extension: None,
            });
        }
        find_attr(core.attributes, name).map(|attr| Resolved {
            schema: Some(core),
            attr,
            extension: None,
        })
    };
    let search_ext = |ext: &'static Schema, name: &str| {
        find_attr(ext.attributes, name).map(|attr| Resolved {
            schema: Some(ext),
            attr,
            extension: Some(ext.id),
        })
    };
    match urn {
        None => search_core(name).or_else(|| {
            kind.extension_schemas()
                .iter()
                .find_map(|ext| search_ext(ext, name))
        }),
        Some(u) if u.eq_ignore_ascii_case(core.id) => search_core(name),
        Some(u) => kind
            .extension_schemas()
            .iter()
            .find(|ext| ext.id.eq_ignore_ascii_case(u))
            .and_then(|ext| search_ext(ext, name)),
    }
}

/// The schema URNs an attribute reference may start with.
const KNOWN_URNS: [&str; 4] = [CORE_USER, CORE_GROUP, ENTERPRISE_USER, MAPPING_USER];

/// Splits a full attribute reference into its schema URN (when it starts with a
/// known one, case-insensitively) and the rest. The separator after the URN may
/// be `:` (RFC 7644) or `.` (Entra's legacy form). A reference that is exactly
/// a URN yields `(Some(urn), "")`. Anything else yields `(None, full)`.
pub fn split_urn(full: &str) -> (Option<&str>, &str) {
    for urn in KNOWN_URNS {
        let Some(head) = full.get(..urn.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(urn) {
            continue;
        }
        let rest = &full[urn.len()..];
        if rest.is_empty() {
            return (Some(head), "");
        }
        if let Some(after) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('.')) {
            return (Some(head), after);
        }
    }
    (None, full)
}

/// A sub-attribute of a complex attribute, case-insensitively.
pub fn sub_attr(attr: &'static AttrDef, name: &str) -> Option<&'static AttrDef> {
    find_attr(attr.sub_attributes, name)
}

/// The known schema with this URN (case-insensitive).
pub fn schema_by_urn(urn: &str) -> Option<&'static Schema> {
    all_schemas()
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(urn))
}

/// The schemas served at `/Schemas`.
pub fn all_schemas() -> [&'static Schema; 4] {
    [&USER, &GROUP, &ENTERPRISE_USER_SCHEMA, &MAPPING_USER_SCHEMA]
}

// ---------------------------------------------------------------------------
// Discovery documents (RFC 7643 §5–§7, RFC 7644 §4).

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

fn base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

/// One attribute definition as RFC 7643 §7 represents it. Empty lists are
/// omitted rather than sent as `[]` or null: Entra's schema discovery rejects
/// nulls, and omission is what the RFC's own examples do.
pub fn attr_json(attr: &AttrDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), attr.name.into());
    m.insert("type".into(), attr.ty.as_str().into());
    m.insert("multiValued".into(), attr.multi_valued.into());
    m.insert("description".into(), attr.description.into());
    m.insert("required".into(), attr.required.into());
    m.insert("caseExact".into(), attr.case_exact.into());
    m.insert("mutability".into(), attr.mutability.as_str().into());
    m.insert("returned".into(), attr.returned.as_str().into());
    m.insert("uniqueness".into(), attr.uniqueness.as_str().into());
    if !attr.canonical_values.is_empty() {
        m.insert("canonicalValues".into(), json!(attr.canonical_values));
    }
    if !attr.reference_types.is_empty() {
        m.insert("referenceTypes".into(), json!(attr.reference_types));
    }
    if !attr.sub_attributes.is_empty() {
        let subs: Vec<Value> = attr.sub_attributes.iter().map(attr_json).collect();
        m.insert("subAttributes".into(), Value::Array(subs));
    }
    Value::Object(m)
}

/// The `/Schemas/{id}` document of one schema.
pub fn schema_json(schema: &Schema, base_url: &str) -> Value {
    let attributes: Vec<Value> = schema.attributes.iter().map(attr_json).collect();
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": attributes,
        "meta": {
            "resourceType": "Schema",
            "location": format!("{}/Schemas/{}", base(base_url), schema.id),
        },
    })
}

/// The `/ResourceTypes/{name}` document of one resource kind.
pub fn resource_type_json(kind: ResourceKind, base_url: &str) -> Value {
    let core = kind.core_schema();
    let mut doc = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": core.description,
        "schema": core.id,
    });
    let extensions: Vec<Value> = kind
        .extension_schemas()
        .iter()
        .map(|s| json!({"schema": s.id, "required": false}))
        .collect();
    if !extensions.is_empty() {
        doc["schemaExtensions"] = Value::Array(extensions);
    }
    doc["meta"] = json!({
        "resourceType": "ResourceType",
        "location": format!("{}/ResourceTypes/{}", base(base_url), kind.name()),
    });
    doc
}

/// The `/ServiceProviderConfig` document (RFC 7643 §5).
pub fn service_provider_config_json(
    base_url: &str,
    max_results: usize,
    max_payload_bytes: usize,
) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {
            "supported": false,
            "maxOperations": 0,
            "maxPayloadSize": max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard: send `Authorization: Bearer <token>` with a secret token or an access token issued by this server.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", base(base_url)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://scim.example.com/scim/v2";

    fn no_nulls(v: &Value, at: &str) {
        match v {
            Value::Null => panic!("null at {at}"),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| no_nulls(x, &format!("{at}[{i}]"))),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| no_nulls(x, &format!("{at}.{k}"))),
            _ => {}
        }
    }

    fn parse_type(s: &str) -> AttrType {
        [
            AttrType::String,
            AttrType::Boolean,
            AttrType::Decimal,
            AttrType::Integer,
            AttrType::DateTime,
            AttrType::Binary,
            AttrType::Reference,
            AttrType::Complex,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .unwrap_or_else(|| panic!("unknown type {s}"))
    }

    fn strs(v: Option<&Value>) -> Vec<String> {
        v.map(|a| {
            a.as_array()
                .expect("array")
                .iter()
                .map(|s| s.as_str().expect("string").to_string())
                .collect()
        })
        .unwrap_or_default()
    }

    /// Checks that the JSON form carries every field of the definition.
    fn round_trip(def: &AttrDef, j: &Value) {
        let o = j.as_object().expect("attribute is an object");
        assert_eq!(o["name"], def.name);
        assert_eq!(parse_type(o["type"].as_str().unwrap()), def.ty);
        assert_eq!(o["multiValued"], def.multi_valued, "{}", def.name);
        assert_eq!(o["description"], def.description);
        assert_eq!(o["required"], def.required, "{}", def.name);
        assert_eq!(o["caseExact"], def.case_exact, "{}", def.name);
        assert_eq!(o["mutability"], def.mutability.as_str());
        assert_eq!(o["returned"], def.returned.as_str());
        assert_eq!(o["uniqueness"], def.uniqueness.as_str());
        assert_eq!(strs(o.get("canonicalValues")), def.canonical_values);
        assert_eq!(strs(o.get("referenceTypes")), def.reference_types);
        let subs = o
            .get("subAttributes")
            .map(|s| s.as_array().unwrap().clone())
            .unwrap_or_default();
        assert_eq!(subs.len(), def.sub_attributes.len(), "{}", def.name);
        for (d, s) in def.sub_attributes.iter().zip(&subs) {
            round_trip(d, s);
        }
        assert!(!o.contains_key("canonicalValues") || !def.canonical_values.is_empty());
    }

    #[test]
    fn schema_documents_round_trip_and_have_no_nulls() {
        for schema in all_schemas() {
            let doc = schema_json(schema, BASE);
            no_nulls(&doc, schema.name);
            assert_eq!(doc["id"], schema.id);
            assert_eq!(doc["schemas"][0], SCHEMA_SCHEMA);
            assert_eq!(doc["meta"]["resourceType"], "Schema");
            assert_eq!(
                doc["meta"]["location"],
                format!("{BASE}/Schemas/{}", schema.id)
            );
            let attrs = doc["attributes"].as_array().unwrap();
            assert_eq!(attrs.len(), schema.attributes.len());
            for (d, j) in schema.attributes.iter().zip(attrs) {
                round_trip(d, j);
            }
        }
        // A trailing slash on the base URL does not double up.
        let doc = schema_json(&GROUP, &format!("{BASE}/"));
        assert_eq!(
            doc["meta"]["location"],
            format!("{BASE}/Schemas/{CORE_GROUP}")
        );
    }

    #[test]
    fn user_schema_matches_rfc_7643() {
        let names: Vec<&str> = USER.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "userName",
                "name",
                "displayName",
                "nickName",
                "profileUrl",
                "title",
                "userType",
                "preferredLanguage",
                "locale",
                "timezone",
                "active",
                "password",
                "emails",
                "phoneNumbers",
                "ims",
                "photos",
                "addresses",
                "groups",
                "entitlements",
                "roles",
                "x509Certificates"
            ]
        );
        let user_name = resolve(ResourceKind::User, None, "USERNAME").unwrap().attr;
        assert_eq!(user_name.name, "userName");
        assert!(user_name.required && !user_name.case_exact);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
        let groups = resolve(ResourceKind::User, None, "groups").unwrap().attr;
        assert_eq!(groups.mutability, Mutability::ReadOnly);
        assert!(groups.multi_valued);
        assert!(
            groups
                .sub_attributes
                .iter()
                .all(|s| s.mutability == Mutability::ReadOnly)
        );
        let password = resolve(ResourceKind::User, None, "password").unwrap().attr;
        assert_eq!(password.returned, Returned::Never);
        assert_eq!(password.mutability, Mutability::WriteOnly);
        let phones = resolve(ResourceKind::User, None, "phoneNumbers")
            .unwrap()
            .attr;
        assert_eq!(
            sub_attr(phones, "TYPE").unwrap().canonical_values,
            ["work", "home", "mobile", "fax", "pager", "other"]
        );
        let photos = resolve(ResourceKind::User, None, "photos").unwrap().attr;
        let photo_value = sub_attr(photos, "value").unwrap();
        assert_eq!(photo_value.ty, AttrType::Reference);
        assert_eq!(photo_value.reference_types, ["external"]);
        let certs = resolve(ResourceKind::User, None, "x509certificates")
            .unwrap()
            .attr;
        assert_eq!(sub_attr(certs, "value").unwrap().ty, AttrType::Binary);
        let name = resolve(ResourceKind::User, None, "name").unwrap().attr;
        assert_eq!(name.sub_attributes.len(), 6);
        assert!(sub_attr(name, "honorificsuffix").is_some());
        let addresses = resolve(ResourceKind::User, None, "addresses").unwrap().attr;
        assert!(sub_attr(addresses, "postalCode").is_some());
        assert!(sub_attr(addresses, "primary").is_some());
        let active = resolve(ResourceKind::User, None, "Active").unwrap().attr;
        assert_eq!(active.ty, AttrType::Boolean);
    }

    #[test]
    fn group_and_enterprise_schemas() {
        let dn = resolve(ResourceKind::Group, None, "displayname").unwrap();
        assert_eq!(dn.attr.name, "displayName");
        assert!(dn.attr.required);
        let members = resolve(ResourceKind::Group, None, "MEMBERS").unwrap().attr;
        assert!(members.multi_valued);
        assert_eq!(
            sub_attr(members, "$ref").unwrap().reference_types,
            ["User", "Group"]
        );
        assert!(resolve(ResourceKind::Group, None, "employeeNumber").is_none());
        assert!(resolve(ResourceKind::Group, None, "userName").is_none());

        let names: Vec<&str> = ENTERPRISE_USER_SCHEMA
            .attributes
            .iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(
            names,
            [
                "employeeNumber",
                "costCenter",
                "organization",
                "division",
                "department",
                "manager"
            ]
        );
        let manager = resolve(ResourceKind::User, None, "manager").unwrap();
        assert_eq!(manager.extension, Some(ENTERPRISE_USER));
        let subs: Vec<&str> = manager.attr.sub_attributes.iter().map(|a| a.name).collect();
        assert_eq!(subs, ["value", "$ref", "displayName"]);
        assert_eq!(
            sub_attr(manager.attr, "DISPLAYNAME").unwrap().mutability,
            Mutability::ReadOnly
        );
    }

    #[test]
    fn common_attributes() {
        let id = resolve(ResourceKind::Group, None, "ID").unwrap();
        assert!(id.schema.is_none());
        assert_eq!(id.attr.name, "id");
        assert!(id.attr.case_exact);
        assert_eq!(id.attr.returned, Returned::Always);
        assert_eq!(id.attr.mutability, Mutability::ReadOnly);
        let ext = resolve(ResourceKind::User, Some(CORE_USER), "externalid").unwrap();
        assert!(ext.attr.case_exact && ext.schema.is_none());
        let meta = resolve(ResourceKind::User, None, "meta").unwrap().attr;
        assert_eq!(meta.mutability, Mutability::ReadOnly);
        assert_eq!(
            sub_attr(meta, "lastmodified").unwrap().ty,
            AttrType::DateTime
        );
        assert_eq!(sub_attr(meta, "location").unwrap().reference_types, ["uri"]);
        assert_eq!(sub_attr(meta, "Created").unwrap().name, "created");
        assert!(sub_attr(meta, "version").is_some());
        assert!(sub_attr(meta, "nope").is_none());
    }

    #[test]
    fn resolve_with_urns() {
        let upper = CORE_USER.to_uppercase();
        let r = resolve(ResourceKind::User, Some(&upper), "username").unwrap();
        assert_eq!(r.schema.unwrap().id, CORE_USER);
        assert!(r.extension.is_none());
        // The core URN does not reach into the extension.
        assert!(resolve(ResourceKind::User, Some(CORE_USER), "employeeNumber").is_none());
        // An extension URN reaches only the extension.
        let r = resolve(ResourceKind::User, Some(ENTERPRISE_USER), "EMPLOYEENUMBER").unwrap();
        assert_eq!(r.attr.name, "employeeNumber");
        assert_eq!(r.extension, Some(ENTERPRISE_USER));
        assert!(resolve(ResourceKind::User, Some(ENTERPRISE_USER), "userName").is_none());
        assert!(resolve(ResourceKind::User, Some(ENTERPRISE_USER), "id").is_none());
        // The group's core URN is not the user's.
        assert!(resolve(ResourceKind::User, Some(CORE_GROUP), "displayName").is_none());
        assert!(resolve(ResourceKind::Group, Some(ENTERPRISE_USER), "manager").is_none());
        assert!(resolve(ResourceKind::User, Some("urn:x"), "userName").is_none());
        // The URN inside the name, with ':' or the legacy '.'.
        for name in [
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Manager",
        ] {
            let r = resolve(ResourceKind::User, None, name).unwrap();
            assert_eq!(r.attr.name, "manager");
            assert_eq!(r.extension, Some(ENTERPRISE_USER));
        }
        let r = resolve(
            ResourceKind::User,
            None,
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        )
        .unwrap();
        assert_eq!(r.attr.name, "userName");
        assert!(resolve(ResourceKind::User, None, ENTERPRISE_USER).is_none());
        assert!(resolve(ResourceKind::User, None, "nonexistent").is_none());
        assert!(resolve(ResourceKind::User, None, "").is_none());
    }

    #[test]
    fn split_urn_forms() {
        assert_eq!(split_urn("userName"), (None, "userName"));
        assert_eq!(
            split_urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
            (Some(ENTERPRISE_USER), "manager.value")
        );
        assert_eq!(
            split_urn("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager"),
            (Some(ENTERPRISE_USER), "manager")
        );
        assert_eq!(
            split_urn("urn:ietf:params:scim:schemas:core:2.0:group:members"),
            (
                Some("urn:ietf:params:scim:schemas:core:2.0:group"),
                "members"
            )
        );
        assert_eq!(split_urn(ENTERPRISE_USER), (Some(ENTERPRISE_USER), ""));
        // A longer, unknown URN is not split.
        let (u, rest) = split_urn("urn:ietf:params:scim:schemas:core:2.0:Users:x");
        assert_eq!(
            (u, rest),
            (None, "urn:ietf:params:scim:schemas:core:2.0:Users:x")
        );
        // Non-ASCII input near the URN length does not panic.
        let s = "urn:ietf:params:scim:schemas:core:2.0:Usé";
        assert_eq!(split_urn(s), (None, s));
        assert_eq!(split_urn(""), (None, ""));
    }

    #[test]
    fn resource_kinds() {
        for kind in [ResourceKind::User, ResourceKind::Group] {
            assert_eq!(ResourceKind::from_name(kind.name()), Some(kind));
            assert_eq!(
                ResourceKind::from_name(&kind.name().to_lowercase()),
                Some(kind)
            );
        }
        assert_eq!(ResourceKind::from_name("Users"), None);
        assert_eq!(ResourceKind::User.endpoint(), "/Users");
        assert_eq!(ResourceKind::Group.endpoint(), "/Groups");
        assert_eq!(ResourceKind::User.core_schema().id, CORE_USER);
        assert_eq!(ResourceKind::Group.core_schema().id, CORE_GROUP);
        assert_eq!(ResourceKind::User.extension_schemas().len(), 2);
        assert_eq!(
            ResourceKind::User.extension_schemas()[0].id,
            ENTERPRISE_USER
        );
        assert_eq!(ResourceKind::User.extension_schemas()[1].id, MAPPING_USER);
        let role = resolve(ResourceKind::User, None, &format!("{MAPPING_USER}:role")).unwrap();
        assert_eq!(role.extension, Some(MAPPING_USER));
        assert_eq!(role.attr.mutability, Mutability::ReadOnly);
        assert!(ResourceKind::Group.extension_schemas().is_empty());
        assert_eq!(
            schema_by_urn(&ENTERPRISE_USER.to_lowercase()).unwrap().name,
            "EnterpriseUser"
        );
        assert!(schema_by_urn("urn:nope").is_none());
    }

    #[test]
    fn resource_type_documents() {
        let user = resource_type_json(ResourceKind::User, BASE);
        no_nulls(&user, "User");
        assert_eq!(user["schemas"][0], RESOURCE_TYPE_SCHEMA);
        assert_eq!(user["id"], "User");
        assert_eq!(user["name"], "User");
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schema"], CORE_USER);
        assert_eq!(
            user["schemaExtensions"],
            json!([
                {"schema": ENTERPRISE_USER, "required": false},
                {"schema": MAPPING_USER, "required": false}
            ])
        );
        assert_eq!(user["meta"]["resourceType"], "ResourceType");
        assert_eq!(
            user["meta"]["location"],
            format!("{BASE}/ResourceTypes/User")
        );
        let group = resource_type_json(ResourceKind::Group, BASE);
        no_nulls(&group, "Group");
        assert_eq!(group["endpoint"], "/Groups");
        assert_eq!(group["schema"], CORE_GROUP);
        assert!(group.get("schemaExtensions").is_none());
    }

    #[test]
    fn service_provider_config_document() {
        let spc = service_provider_config_json(BASE, 200, 1_048_576);
        no_nulls(&spc, "spc");
        assert_eq!(spc["schemas"][0], SERVICE_PROVIDER_CONFIG_SCHEMA);
        assert_eq!(spc["patch"]["supported"], true);
        assert_eq!(spc["bulk"]["supported"], false);
        assert_eq!(spc["bulk"]["maxOperations"], 0);
        assert_eq!(spc["bulk"]["maxPayloadSize"], 1_048_576);
        assert_eq!(spc["filter"]["supported"], true);
        assert_eq!(spc["filter"]["maxResults"], 200);
        assert_eq!(spc["changePassword"]["supported"], false);
        assert_eq!(spc["sort"]["supported"], true);
        assert_eq!(spc["etag"]["supported"], true);
        let schemes = spc["authenticationSchemes"].as_array().unwrap();
        assert_eq!(schemes.len(), 1);
        assert_eq!(schemes[0]["type"], "oauthbearertoken");
        assert_eq!(schemes[0]["primary"], true);
        for key in ["name", "description", "specUri"] {
            assert!(schemes[0][key].as_str().is_some_and(|s| !s.is_empty()));
        }
        assert_eq!(spc["meta"]["resourceType"], "ServiceProviderConfig");
        assert_eq!(
            spc["meta"]["location"],
            format!("{BASE}/ServiceProviderConfig")
        );
    }
}
