//! Applying PATCH operations to a stored document (RFC 7644 §3.5.2.1–3) with
//! Entra's dialects: path-less values with dotted and URN-prefixed keys,
//! filtered replaces that create the element they did not find, removal of
//! listed values only, and "replace with an empty value" meaning remove.

use serde_json::{Map, Value};

use super::parse::{json_kind, shorten};
use super::{MemberChange, OpKind, PatchOp, PatchOutcome, PatchRequest};
use crate::dialect::{Quirks, quirk};
use crate::error::ScimError;
use crate::filter::{
    AttrPath, CompValue, CompareOp, Filter, PatchPath, matches_element, parse_path,
};
use crate::schema::{self, AttrDef, AttrType, Mutability, ResourceKind};

/// Applies `req` to the stored document `doc`, all operations in order, all or
/// nothing: on error `doc` is left exactly as it was.
///
/// Attribute names are matched case-insensitively and written with their
/// canonical schema names; extension attributes go under their schema URN key
/// (which is added to `schemas` when created and dropped when emptied). Values
/// are not type-checked here: `resource::normalize` does that afterwards.
///
/// For groups, operations on `members` leave `doc` alone and are returned in
/// [`PatchOutcome::member_changes`]. Read-only attributes (`id`, `meta`, a
/// user's `groups`) are skipped; unknown attributes are skipped and listed in
/// [`PatchOutcome::ignored`].
pub fn apply_patch(
    kind: ResourceKind,
    doc: &mut Value,
    req: &PatchRequest,
    quirks: &mut Quirks,
) -> Result<PatchOutcome, ScimError> {
    let mut work = doc.clone();
    let Some(map) = work.as_object_mut() else {
        return Err(ScimError::internal());
    };
    let mut engine = Engine {
        kind,
        doc: map,
        quirks,
        outcome: PatchOutcome::default(),
        touched_extensions: Vec::new(),
    };
    for (index, op) in req.ops.iter().enumerate() {
        engine.apply_op(index, op)?;
    }
    engine.tidy_extensions();
    let outcome = engine.outcome;
    *doc = work;
    Ok(outcome)
}

/// Where one operation lands: an attribute (in the core or under an extension
/// URN), optionally one sub-attribute, optionally only the elements matching
/// a value filter.
struct Target<'f> {
    ext: Option<&'static str>,
    attr: &'static AttrDef,
    sub: Option<&'static AttrDef>,
    filter: Option<&'f Filter>,
    /// The attribute as the client wrote it, for filter evaluation.
    parent: AttrPath,
    /// The path or key as the client wrote it, for messages.
    sent: String,
}

struct Engine<'d, 'q> {
    kind: ResourceKind,
    doc: &'d mut Map<String, Value>,
    quirks: &'q mut Quirks,
    outcome: PatchOutcome,
    touched_extensions: Vec<&'static str>,
}

impl Engine<'_, '_> {
    fn apply_op(&mut self, index: usize, op: &PatchOp) -> Result<(), ScimError> {
        match &op.path {
            Some(path) => self.apply_path_op(index, op.op, path, op.value.as_ref()),
            None => match (op.op, op.value.as_ref()) {
                (OpKind::Remove, _) => Err(ScimError::no_target(format!(
                    "Operations[{index}] (remove) has no \"path\": say which attribute to remove."
                ))),
                (_, Some(Value::Object(obj))) => self.apply_pathless(index, op.op, obj, None, 0),
                (_, other) => Err(ScimError::invalid_value(format!(
                    "Operations[{index}] ({}) has no \"path\", so its \"value\" must be an object of attributes; it is {}.",
                    op.op.as_str(),
                    other.map_or("missing", json_kind)
                ))),
            },
        }
    }

    fn apply_path_op(
        &mut self,
        index: usize,
        op: OpKind,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        if path.filter.is_none()
            && path.sub.is_none()
            && let Some(ext) = self.extension_named_by(&path.attr)
        {
            return self.apply_to_extension(index, op, ext, value);
        }
        let sent = describe(&path.attr, path.filter.is_some(), path.sub.as_deref());
        let Some(target) = self.resolve_target(
            index,
            &path.attr,
            path.filter.as_ref(),
            path.sub.as_deref(),
            None,
            sent,
        )?
        else {
            return Ok(());
        };
        self.apply_to(index, op, &target, value)
    }

    /// A path or key that is an extension schema URN itself: its value is an
    /// object of that extension's attributes.
    fn apply_to_extension(
        &mut self,
        index: usize,
        op: OpKind,
        ext: &'static str,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        match (op, value) {
            (OpKind::Remove, _) => {
                if self.doc.shift_remove(ext).is_some() {
                    self.touched_extensions.push(ext);
                    remove_schema_urn(self.doc, ext);
                }
                Ok(())
            }
            (_, Some(Value::Object(obj))) => self.apply_pathless(index, op, obj, Some(ext), 1),
            (_, None | Some(Value::Null)) => {
                self.quirks.note(quirk::NULL_ATTRIBUTE);
                Ok(())
            }
            (_, Some(other)) => Err(ScimError::invalid_value(format!(
                "Operations[{index}]: the value for \"{ext}\" must be an object of its attributes, such as {{\"department\": \"Sales\"}}; it is {}.",
                json_kind(other)
            ))),
        }
    }

    /// A path-less add or replace: every key of the value object is a target.
    /// `ctx` is the extension URN when the object is nested under one.
    fn apply_pathless(
        &mut self,
        index: usize,
        op: OpKind,
        obj: &Map<String, Value>,
        ctx: Option<&'static str>,
        depth: u8,
    ) -> Result<(), ScimError> {
        for (key, value) in obj {
            if ctx.is_none() && key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            if let Some(urn) = self.schema_urn_named(key) {
                if depth > 0 {
                    self.outcome.ignored.push(key.clone());
                    continue;
                }
                if urn == core_urn(self.kind) {
                    self.quirks.note(quirk::URN_KEY);
                    match value {
                        Value::Object(inner) => {
                            self.apply_pathless(index, op, inner, None, depth + 1)?
                        }
                        _ => {
                            return Err(ScimError::invalid_value(format!(
                                "Operations[{index}]: the value for \"{key}\" must be an object of attributes; it is {}.",
                                json_kind(value)
                            )));
                        }
                    }
                } else {
                    self.apply_to_extension(index, op, urn, Some(value))?;
                }
                continue;
            }

            // A key is written like a path: `name.givenName`,
            // `urn:…:enterprise:2.0:User:employeeNumber`, even
            // `emails[type eq "work"].value`.
            let Ok(path) = parse_path(key, self.quirks) else {
                self.outcome.ignored.push(key.clone());
                continue;
            };
            if path.attr.urn.is_some() && ctx.is_none() {
                self.quirks.note(quirk::URN_KEY);
            }
            if path.attr.sub.is_some() || path.filter.is_some() || path.sub.is_some() {
                self.quirks.note(quirk::DOTTED_KEY);
            }
            if path.filter.is_none()
                && path.sub.is_none()
                && let Some(ext) = self.extension_named_by(&path.attr)
            {
                if depth > 0 {
                    self.outcome.ignored.push(key.clone());
                } else {
                    self.apply_to_extension(index, op, ext, Some(value))?;
                }
                continue;
            }
            let Some(target) = self.resolve_target(
                index,
                &path.attr,
                path.filter.as_ref(),
                path.sub.as_deref(),
                ctx,
                key.clone(),
            )?
            else {
                continue;
            };
            self.apply_to(index, op, &target, Some(value))?;
        }
        Ok(())
    }

    /// Resolves an attribute path against the schemas. `Ok(None)` means the
    /// operation is skipped (read-only or unknown attribute).
    fn resolve_target<'f>(
        &mut self,
        index: usize,
        attr_path: &AttrPath,
        filter: Option<&'f Filter>,
        sub_after_filter: Option<&str>,
        ctx: Option<&'static str>,
        sent: String,
    ) -> Result<Option<Target<'f>>, ScimError> {
        let urn = attr_path.urn.as_deref().or(ctx);
        let Some(resolved) = schema::resolve(self.kind, urn, &attr_path.name) else {
            let is_core = urn.is_none_or(|u| u.eq_ignore_ascii_case(core_urn(self.kind)));
            if is_core
                && ["id", "meta"]
                    .iter()
                    .any(|n| attr_path.name.eq_ignore_ascii_case(n))
            {
                self.quirks.note(quirk::READ_ONLY_IGNORED);
            } else if is_core && attr_path.name.eq_ignore_ascii_case("schemas") {
                // The document's `schemas` follows its extensions; a client's
                // list is not an attribute change.
            } else {
                if let Some(u) = urn
                    && self.schema_urn_named(u).is_none()
                {
                    self.quirks.note(quirk::UNKNOWN_SCHEMA);
                }
                self.outcome.ignored.push(sent);
            }
            return Ok(None);
        };
        let attr = resolved.attr;
        if attr.name != attr_path.name {
            self.quirks.note(quirk::ATTRIBUTE_CASE);
        }

        let sub_name = match (attr_path.sub.as_deref(), sub_after_filter) {
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_path(format!(
                    "Operations[{index}].path \"{}\" names two sub-attributes; write it as attribute[filter].subAttribute.",
                    shorten(&sent)
                )));
            }
            (a, b) => a.or(b),
        };
        let sub = match sub_name {
            None => None,
            Some(name) => {
                if attr.ty != AttrType::Complex {
                    return Err(ScimError::invalid_path(format!(
                        "Operations[{index}].path \"{}\": \"{}\" has no sub-attributes, so \"{}\" cannot be addressed in it.",
                        shorten(&sent),
                        attr.name,
                        shorten(name)
                    )));
                }
                let Some(def) = schema::sub_attr(attr, name) else {
                    return Err(ScimError::invalid_path(format!(
                        "Operations[{index}].path \"{}\": \"{}\" has no sub-attribute \"{}\"; its sub-attributes are {}.",
                        shorten(&sent),
                        attr.name,
                        shorten(name),
                        sub_attribute_list(attr)
                    )));
                };
                if def.name != name {
                    self.quirks.note(quirk::ATTRIBUTE_CASE);
                }
                Some(def)
            }
        };
        if filter.is_some() && !attr.multi_valued {
            return Err(ScimError::invalid_path(format!(
                "Operations[{index}].path \"{}\": \"{}\" holds a single value, so it cannot take a [filter]; use \"{}\" or \"{}.subAttribute\".",
                shorten(&sent),
                attr.name,
                attr.name,
                attr.name
            )));
        }

        let is_members = self.is_group_members(resolved.extension, attr);
        if attr.mutability == Mutability::ReadOnly
            || (!is_members && sub.is_some_and(|s| s.mutability == Mutability::ReadOnly))
        {
            self.quirks.note(quirk::READ_ONLY_IGNORED);
            return Ok(None);
        }
        Ok(Some(Target {
            ext: resolved.extension,
            attr,
            sub,
            filter,
            parent: attr_path.clone(),
            sent,
        }))
    }

    fn is_group_members(&self, ext: Option<&str>, attr: &'static AttrDef) -> bool {
        self.kind == ResourceKind::Group && ext.is_none() && attr.name == "members"
    }

    fn apply_to(
        &mut self,
        index: usize,
        op: OpKind,
        t: &Target<'_>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        if self.is_group_members(t.ext, t.attr) {
            return self.members(index, op, t, value);
        }
        match op {
            OpKind::Add => self.add(index, t, value),
            OpKind::Replace => self.replace(index, t, value),
            OpKind::Remove => {
                self.remove(t, value);
                Ok(())
            }
        }
    }

    // ---- add ------------------------------------------------------------

    fn add(
        &mut self,
        index: usize,
        t: &Target<'_>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            self.quirks.note(quirk::NULL_ATTRIBUTE);
            return Ok(());
        };
        if let Some(filter) = t.filter {
            return self.set_filtered(index, t, filter, value);
        }
        match (t.attr.multi_valued, t.sub) {
            (true, None) => {
                self.append(t, value);
                Ok(())
            }
            (true, Some(sub)) => {
                self.set_sub_everywhere(t, sub, value);
                Ok(())
            }
            (false, Some(sub)) => {
                self.set_sub_single(t, sub, value);
                Ok(())
            }
            (false, None) => {
                self.set_single(t, value);
                Ok(())
            }
        }
    }

    /// Appends values to a multi-valued attribute, skipping exact duplicates.
    fn append(&mut self, t: &Target<'_>, value: &Value) {
        let items: Vec<Value> = match value {
            Value::Array(a) => a.iter().filter(|v| !v.is_null()).cloned().collect(),
            other => vec![other.clone()],
        };
        let items: Vec<Value> = items
            .iter()
            .map(|v| self.canon(t.attr, v, &t.sent))
            .collect();
        if items.is_empty() {
            return;
        }
        let has_primary = has_primary_sub(t.attr);
        let Some(container) = self.container(t.ext, true) else {
            return;
        };
        let Some(arr) = array_entry(container, t.attr.name) else {
            return;
        };
        let mut new_primary = Vec::new();
        // Duplicates found by hash, not by scanning: adding n values to m
        // costs n + m, not n × m.
        let mut seen: std::collections::HashMap<u64, Vec<usize>> =
            std::collections::HashMap::with_capacity(arr.len() + items.len());
        for (i, v) in arr.iter().enumerate() {
            seen.entry(value_key(v, true)).or_default().push(i);
        }
        for item in items {
            let at = arr.len();
            let primary = has_primary && is_primary(&item);
            if push_new(arr, &mut seen, item) && primary {
                new_primary.push(at);
            }
        }
        if let Some(&keep) = new_primary.last() {
            clear_other_primaries(arr, keep);
        }
    }

    /// Sets a single-valued attribute; a complex one given an object merges
    /// the listed sub-attributes (RFC 7644 §3.5.2.1 and §3.5.2.3).
    fn set_single(&mut self, t: &Target<'_>, value: &Value) {
        let value = self.canon(t.attr, value, &t.sent);
        let name = t.attr.name;
        let incoming = match value {
            Value::Object(m) if t.attr.ty == AttrType::Complex => m,
            other => {
                if let Some(c) = self.container(t.ext, true) {
                    c.insert(name.to_string(), other);
                }
                return;
            }
        };
        let needs_value = has_value_sub(t.attr);
        let Some(c) = self.container(t.ext, true) else {
            return;
        };
        let had_value = c
            .get(name)
            .and_then(|v| v.get("value"))
            .is_some_and(|v| !is_empty_value(v));
        let Some(entry) = object_entry(c, name) else {
            return;
        };
        merge_into(entry, &incoming);
        let lost_value = needs_value && entry.get("value").is_none_or(is_empty_value);
        if entry.is_empty() || lost_value {
            c.shift_remove(name);
            if had_value && lost_value {
                // `{"value": ""}` on manager: Entra's way of removing it.
                self.quirks.note(quirk::EMPTY_VALUE_REMOVE);
            }
        }
    }

    fn set_sub_single(&mut self, t: &Target<'_>, sub: &AttrDef, value: &Value) {
        let name = t.attr.name;
        let needs_value = has_value_sub(t.attr);
        let empty = is_empty_value(value);
        let Some(c) = self.container(t.ext, !empty) else {
            return;
        };
        if empty {
            if let Some(Value::Object(obj)) = c.get_mut(name) {
                obj.shift_remove(sub.name);
                if obj.is_empty() || (needs_value && !obj.contains_key("value")) {
                    c.shift_remove(name);
                }
            }
            return;
        }
        if let Some(obj) = object_entry(c, name) {
            obj.insert(sub.name.to_string(), value.clone());
        }
    }

    /// `emails.value` without a filter: every element; one is created when
    /// there is none.
    fn set_sub_everywhere(&mut self, t: &Target<'_>, sub: &AttrDef, value: &Value) {
        let empty = is_empty_value(value);
        let needs_value = has_value_sub(t.attr);
        let Some(c) = self.container(t.ext, !empty) else {
            return;
        };
        if empty {
            remove_sub_where(c, t.attr.name, sub.name, needs_value, |_| true);
            return;
        }
        let Some(arr) = array_entry(c, t.attr.name) else {
            return;
        };
        if arr.iter().all(|v| !v.is_object()) {
            let mut element = Map::new();
            element.insert(sub.name.to_string(), value.clone());
            arr.push(Value::Object(element));
            return;
        }
        for element in arr.iter_mut() {
            if let Value::Object(obj) = element {
                obj.insert(sub.name.to_string(), value.clone());
            }
        }
    }

    /// A filtered add or replace: sets the sub-attribute (or merges the value
    /// object) on every matching element; when nothing matches and the filter
    /// is a plain equality, creates the element it describes.
    fn set_filtered(
        &mut self,
        index: usize,
        t: &Target<'_>,
        filter: &Filter,
        value: &Value,
    ) -> Result<(), ScimError> {
        let patch: Map<String, Value> = match t.sub {
            Some(sub) => {
                let mut m = Map::new();
                m.insert(sub.name.to_string(), value.clone());
                m
            }
            None => match self.canon(t.attr, value, &t.sent) {
                Value::Object(m) => m,
                scalar if has_value_sub(t.attr) && !scalar.is_array() => {
                    let mut m = Map::new();
                    m.insert("value".to_string(), scalar);
                    m
                }
                other => {
                    return Err(ScimError::invalid_value(format!(
                        "Operations[{index}]: the value for \"{}\" must be an object of {} sub-attributes, such as {{\"value\": \"…\"}}; it is {}.",
                        shorten(&t.sent),
                        t.attr.name,
                        json_kind(&other)
                    )));
                }
            },
        };
        let sets_primary = has_primary_sub(t.attr) && is_primary(&Value::Object(patch.clone()));
        let needs_value = has_value_sub(t.attr);
        let matching = self.matching_indices(t);

        if matching.is_empty() {
            let Some(mut element) = element_from_filter(t.attr, filter) else {
                return Err(ScimError::no_target(format!(
                    "Operations[{index}]: no \"{}\" value matches the filter in \"{}\", and the filter is not a plain equality (such as [type eq \"work\"]) that would describe a new one.",
                    t.attr.name,
                    shorten(&t.sent)
                )));
            };
            merge_into(&mut element, &patch);
            if element.is_empty() || (needs_value && !element.contains_key("value")) {
                return Ok(());
            }
            self.quirks.note(quirk::REPLACE_CREATED);
            let Some(c) = self.container(t.ext, true) else {
                return Ok(());
            };
            let Some(arr) = array_entry(c, t.attr.name) else {
                return Ok(());
            };
            arr.push(Value::Object(element));
            if sets_primary {
                let last = arr.len() - 1;
                clear_other_primaries(arr, last);
            }
            return Ok(());
        }

        let Some(c) = self.container(t.ext, false) else {
            return Ok(());
        };
        let Some(Value::Array(arr)) = c.get_mut(t.attr.name) else {
            return Ok(());
        };
        for &i in &matching {
            if let Some(Value::Object(obj)) = arr.get_mut(i) {
                merge_into(obj, &patch);
            }
        }
        if sets_primary && let Some(&keep) = matching.first() {
            clear_other_primaries(arr, keep);
        }
        // An element left without its value means nothing: drop it.
        if needs_value {
            let mut i = 0usize;
            arr.retain(|v| {
                let keep = matching.binary_search(&i).is_err()
                    || v.get("value").is_some_and(|x| !is_empty_value(x));
                i += 1;
                keep
            });
        }
        if arr.is_empty() {
            c.shift_remove(t.attr.name);
        }
        Ok(())
    }

    fn matching_indices(&mut self, t: &Target<'_>) -> Vec<usize> {
        let Some(filter) = t.filter else {
            return Vec::new();
        };
        let kind = self.kind;
        let Some(c) = self.container(t.ext, false) else {
            return Vec::new();
        };
        match c.get(t.attr.name) {
            Some(Value::Array(arr)) => arr
                .iter()
                .enumerate()
                .filter(|(_, v)| matches_element(filter, kind, &t.parent, v))
                .map(|(i, _)| i)
                .collect(),
            _ => Vec::new(),
        }
    }

    // ---- replace --------------------------------------------------------

    fn replace(
        &mut self,
        index: usize,
        t: &Target<'_>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        // A non-empty object on a single complex attribute merges, so that
        // `{"givenName": ""}` clears one sub-attribute of `name` only.
        let merges = !t.attr.multi_valued
            && t.sub.is_none()
            && t.filter.is_none()
            && value
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty());
        let value = match value {
            None => {
                self.quirks.note(quirk::EMPTY_VALUE_REMOVE);
                None
            }
            Some(Value::Null) => None,
            Some(v) if !merges && is_empty_value(v) => {
                self.quirks.note(quirk::EMPTY_VALUE_REMOVE);
                None
            }
            Some(v) => Some(v),
        };
        let Some(value) = value else {
            self.remove(t, None);
            return Ok(());
        };
        if let Some(filter) = t.filter {
            return self.set_filtered(index, t, filter, value);
        }
        match (t.attr.multi_valued, t.sub) {
            (true, None) => {
                let items: Vec<Value> = match value {
                    Value::Array(a) => a.iter().filter(|v| !v.is_null()).cloned().collect(),
                    other => vec![other.clone()],
                };
                let items: Vec<Value> = items
                    .iter()
                    .map(|v| self.canon(t.attr, v, &t.sent))
                    .collect();
                if items.is_empty() {
                    self.remove(t, None);
                } else if let Some(c) = self.container(t.ext, true) {
                    c.insert(t.attr.name.to_string(), Value::Array(items));
                }
            }
            (true, Some(sub)) => self.set_sub_everywhere(t, sub, value),
            (false, Some(sub)) => self.set_sub_single(t, sub, value),
            (false, None) => self.set_single(t, value),
        }
        Ok(())
    }

    // ---- remove ---------------------------------------------------------

    /// Removes the target. A value list on a multi-valued attribute removes
    /// only the listed elements (Entra's member removal). Removing what is
    /// absent is not an error.
    fn remove(&mut self, t: &Target<'_>, value: Option<&Value>) {
        let name = t.attr.name;
        let needs_value = has_value_sub(t.attr);
        if t.filter.is_some() {
            let matching = self.matching_indices(t);
            if matching.is_empty() {
                return;
            }
            let Some(c) = self.container(t.ext, false) else {
                return;
            };
            match t.sub {
                Some(sub) => remove_sub_where(c, name, sub.name, needs_value, |i| {
                    matching.binary_search(&i).is_ok()
                }),
                None => {
                    if let Some(Value::Array(arr)) = c.get_mut(name) {
                        let mut i = 0usize;
                        arr.retain(|_| {
                            let keep = matching.binary_search(&i).is_err();
                            i += 1;
                            keep
                        });
                        if arr.is_empty() {
                            c.shift_remove(name);
                        }
                    }
                }
            }
            return;
        }

        match (t.attr.multi_valued, t.sub) {
            (true, None) => match value {
                Some(v @ (Value::Array(_) | Value::Object(_))) => {
                    self.quirks.note(quirk::REMOVE_WITH_VALUE);
                    self.remove_listed(t, v);
                }
                _ => {
                    if let Some(c) = self.container(t.ext, false) {
                        c.shift_remove(name);
                    }
                }
            },
            (true, Some(sub)) => {
                if let Some(c) = self.container(t.ext, false) {
                    remove_sub_where(c, name, sub.name, needs_value, |_| true);
                }
            }
            (false, Some(sub)) => {
                if let Some(c) = self.container(t.ext, false)
                    && let Some(Value::Object(obj)) = c.get_mut(name)
                {
                    obj.shift_remove(sub.name);
                    if obj.is_empty() || (needs_value && !obj.contains_key("value")) {
                        c.shift_remove(name);
                    }
                }
            }
            (false, None) => {
                if let Some(c) = self.container(t.ext, false) {
                    c.shift_remove(name);
                }
            }
        }
    }

    /// Removes the elements listed in `value`: by their `value` sub-attribute
    /// when the listed item has one, else by equality.
    fn remove_listed(&mut self, t: &Target<'_>, value: &Value) {
        let listed: Vec<Value> = match value {
            Value::Array(a) => a.iter().map(|v| self.canon(t.attr, v, &t.sent)).collect(),
            other => vec![self.canon(t.attr, other, &t.sent)],
        };
        let case_exact = schema::sub_attr(t.attr, "value").is_none_or(|d| d.case_exact);
        let Some(c) = self.container(t.ext, false) else {
            return;
        };
        let Some(Value::Array(arr)) = c.get_mut(t.attr.name) else {
            return;
        };
        // The listed values, looked up by hash for each element.
        let by_value = ValueIndex::new(
            listed
                .iter()
                .filter(|item| item.is_object())
                .filter_map(|item| item.get("value")),
            case_exact,
        );
        let whole = ValueIndex::new(
            listed
                .iter()
                .filter(|item| !(item.is_object() && item.get("value").is_some())),
            true,
        );
        arr.retain(|element| {
            let by_its_value = element
                .get("value")
                .is_some_and(|have| by_value.contains(have));
            !(by_its_value || whole.contains(element))
        });
        if arr.is_empty() {
            c.shift_remove(t.attr.name);
        }
    }

    // ---- group members --------------------------------------------------

    fn members(
        &mut self,
        index: usize,
        op: OpKind,
        t: &Target<'_>,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        if t.sub.is_some() {
            // A member's sub-attributes are derived from the member itself.
            self.quirks.note(quirk::READ_ONLY_IGNORED);
            return Ok(());
        }
        let changes = &mut self.outcome.member_changes;
        match op {
            OpKind::Add => {
                let ids = member_ids(index, value)?;
                if !ids.is_empty() {
                    changes.push(MemberChange::Add(ids));
                }
            }
            OpKind::Replace => {
                let ids = member_ids(index, value)?;
                changes.push(match t.filter {
                    Some(f) => removal_for_filter(f),
                    None => MemberChange::RemoveAll,
                });
                if !ids.is_empty() {
                    changes.push(MemberChange::Add(ids));
                }
            }
            OpKind::Remove => match (t.filter, value) {
                (Some(f), _) => changes.push(removal_for_filter(f)),
                (None, Some(v @ (Value::Array(_) | Value::Object(_)))) => {
                    let ids = member_ids(index, Some(v))?;
                    self.quirks.note(quirk::REMOVE_WITH_VALUE);
                    if !ids.is_empty() {
                        changes.push(MemberChange::Remove(ids));
                    }
                }
                (None, _) => changes.push(MemberChange::RemoveAll),
            },
        }
        Ok(())
    }

    // ---- helpers --------------------------------------------------------

    /// The map an attribute lives in: the document, or the object under an
    /// extension URN (created, and listed in `schemas`, when `create`).
    fn container(
        &mut self,
        ext: Option<&'static str>,
        create: bool,
    ) -> Option<&mut Map<String, Value>> {
        let Some(urn) = ext else {
            return Some(&mut *self.doc);
        };
        if !matches!(self.doc.get(urn), Some(Value::Object(_))) {
            if !create {
                return None;
            }
            self.doc.insert(urn.to_string(), Value::Object(Map::new()));
            add_schema_urn(self.doc, self.kind, urn);
        }
        if !self.touched_extensions.contains(&urn) {
            self.touched_extensions.push(urn);
        }
        self.doc.get_mut(urn).and_then(Value::as_object_mut)
    }

    /// Drops extension objects this PATCH emptied, and their `schemas` entry.
    fn tidy_extensions(&mut self) {
        for urn in std::mem::take(&mut self.touched_extensions) {
            if matches!(self.doc.get(urn), Some(Value::Object(m)) if m.is_empty()) {
                self.doc.shift_remove(urn);
                remove_schema_urn(self.doc, urn);
            }
        }
    }

    /// A value with its sub-attribute names made canonical; unknown
    /// sub-attributes are dropped and reported.
    fn canon(&mut self, attr: &'static AttrDef, value: &Value, sent: &str) -> Value {
        if attr.ty != AttrType::Complex {
            return value.clone();
        }
        match value {
            Value::Object(m) => Value::Object(self.canon_object(attr, m, sent)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| match v {
                        Value::Object(m) => Value::Object(self.canon_object(attr, m, sent)),
                        other => other.clone(),
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn canon_object(
        &mut self,
        attr: &'static AttrDef,
        m: &Map<String, Value>,
        sent: &str,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in m {
            match schema::sub_attr(attr, k) {
                Some(def) => {
                    if def.name != k {
                        self.quirks.note(quirk::ATTRIBUTE_CASE);
                    }
                    out.insert(def.name.to_string(), v.clone());
                }
                None => self.outcome.ignored.push(format!("{sent}.{k}")),
            }
        }
        out
    }

    /// The extension URN a path names when it is that URN itself.
    fn extension_named_by(&self, p: &AttrPath) -> Option<&'static str> {
        if p.sub.is_some() {
            return None;
        }
        extension_urns(self.kind)
            .iter()
            .copied()
            .find(|ext| match &p.urn {
                None => p.name.eq_ignore_ascii_case(ext),
                Some(urn) if p.name.is_empty() => urn.eq_ignore_ascii_case(ext),
                Some(urn) => {
                    ext.len() == urn.len() + 1 + p.name.len()
                        && ext.is_char_boundary(urn.len())
                        && ext[..urn.len()].eq_ignore_ascii_case(urn)
                        && ext[urn.len() + 1..].eq_ignore_ascii_case(&p.name)
                }
            })
    }

    /// The canonical schema URN (core or extension) a string names exactly.
    fn schema_urn_named(&self, s: &str) -> Option<&'static str> {
        std::iter::once(core_urn(self.kind))
            .chain(extension_urns(self.kind).iter().copied())
            .find(|u| u.eq_ignore_ascii_case(s))
    }
}

fn core_urn(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => schema::CORE_USER,
        ResourceKind::Group => schema::CORE_GROUP,
    }
}

fn extension_urns(kind: ResourceKind) -> &'static [&'static str] {
    match kind {
        ResourceKind::User => &[schema::ENTERPRISE_USER],
        ResourceKind::Group => &[],
    }
}

fn add_schema_urn(doc: &mut Map<String, Value>, kind: ResourceKind, urn: &str) {
    match doc.get_mut("schemas") {
        Some(Value::Array(list)) => {
            if !list
                .iter()
                .any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
            {
                list.push(Value::String(urn.to_string()));
            }
        }
        _ => {
            doc.insert(
                "schemas".to_string(),
                Value::Array(vec![
                    Value::String(core_urn(kind).to_string()),
                    Value::String(urn.to_string()),
                ]),
            );
        }
    }
}

fn remove_schema_urn(doc: &mut Map<String, Value>, urn: &str) {
    if let Some(Value::Array(list)) = doc.get_mut("schemas") {
        list.retain(|v| !v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)));
    }
}

/// The array under `name`, created when absent; a lone value stored there is
/// kept as the first element. Always `Some`.
fn array_entry<'m>(c: &'m mut Map<String, Value>, name: &str) -> Option<&'m mut Vec<Value>> {
    let slot = c
        .entry(name.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        let lone = slot.take();
        *slot = Value::Array(if lone.is_null() {
            Vec::new()
        } else {
            vec![lone]
        });
    }
    slot.as_array_mut()
}

/// The object under `name`, created (or substituted for a non-object) when
/// needed. Always `Some`.
fn object_entry<'m>(
    c: &'m mut Map<String, Value>,
    name: &str,
) -> Option<&'m mut Map<String, Value>> {
    let slot = c
        .entry(name.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

/// RFC 7644 §3.5.2.3: listed sub-attributes replace or add; an empty one
/// (null or "") removes.
fn merge_into(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        if is_empty_value(v) {
            target.shift_remove(k);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
}

/// Removes a sub-attribute from the elements selected by `which`; elements
/// left without their `value` are dropped, and the attribute when emptied.
fn remove_sub_where(
    c: &mut Map<String, Value>,
    name: &str,
    sub: &str,
    needs_value: bool,
    which: impl Fn(usize) -> bool,
) {
    let Some(Value::Array(arr)) = c.get_mut(name) else {
        return;
    };
    let mut i = 0usize;
    arr.retain_mut(|v| {
        let selected = which(i);
        i += 1;
        if !selected {
            return true;
        }
        match v {
            Value::Object(obj) => {
                obj.shift_remove(sub);
                !obj.is_empty() && (!needs_value || obj.contains_key("value"))
            }
            _ => true,
        }
    });
    if arr.is_empty() {
        c.shift_remove(name);
    }
}

/// null, "", [], {} and containers of only those: what Entra sends to mean
/// "no value".
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_empty_value),
        Value::Object(m) => m.values().all(is_empty_value),
        _ => false,
    }
}

fn has_value_sub(attr: &'static AttrDef) -> bool {
    attr.sub_attributes.iter().any(|s| s.name == "value")
}

fn has_primary_sub(attr: &'static AttrDef) -> bool {
    attr.multi_valued && attr.sub_attributes.iter().any(|s| s.name == "primary")
}

fn is_primary(element: &Value) -> bool {
    match element.get("primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// RFC 7644 §3.5.2: setting one value primary makes the others non-primary.
fn clear_other_primaries(arr: &mut [Value], keep: usize) {
    for (i, element) in arr.iter_mut().enumerate() {
        if i != keep
            && is_primary(element)
            && let Value::Object(obj) = element
        {
            obj.insert("primary".to_string(), Value::Bool(false));
        }
    }
}

/// A hash of a JSON value that equal values share (object keys in any
/// order; strings compared without ASCII case unless `case_exact`).
fn value_key(v: &Value, case_exact: bool) -> u64 {
    use std::hash::{Hash, Hasher};
    fn feed(v: &Value, case_exact: bool, h: &mut std::collections::hash_map::DefaultHasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.to_string()).hash(h),
            Value::String(s) if case_exact => (3u8, s).hash(h),
            Value::String(s) => {
                3u8.hash(h);
                for b in s.bytes() {
                    b.to_ascii_lowercase().hash(h);
                }
                0xffu8.hash(h);
            }
            Value::Array(a) => {
                (4u8, a.len()).hash(h);
                for x in a {
                    feed(x, case_exact, h);
                }
            }
            Value::Object(o) => {
                // Order-independent: the sum of each pair's own hash.
                let mut sum = 0u64;
                for (k, x) in o {
                    let mut p = std::collections::hash_map::DefaultHasher::new();
                    k.hash(&mut p);
                    feed(x, case_exact, &mut p);
                    sum = sum.wrapping_add(p.finish());
                }
                (5u8, o.len(), sum).hash(h);
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    feed(v, case_exact, &mut h);
    h.finish()
}

/// JSON values found by hash: equal as [`same_value`] compares them.
struct ValueIndex<'a> {
    buckets: std::collections::HashMap<u64, Vec<&'a Value>>,
    case_exact: bool,
}

impl<'a> ValueIndex<'a> {
    fn new(values: impl Iterator<Item = &'a Value>, case_exact: bool) -> Self {
        let mut buckets: std::collections::HashMap<u64, Vec<&'a Value>> =
            std::collections::HashMap::new();
        for v in values {
            buckets.entry(value_key(v, case_exact)).or_default().push(v);
        }
        ValueIndex {
            buckets,
            case_exact,
        }
    }

    fn contains(&self, v: &Value) -> bool {
        self.buckets
            .get(&value_key(v, self.case_exact))
            .is_some_and(|b| b.iter().any(|w| same_value(v, w, self.case_exact)))
    }
}

/// Appends `item` to `arr` unless an equal value is there already, found
/// through `seen` (hashes of `arr`'s values to their indices).
fn push_new(
    arr: &mut Vec<Value>,
    seen: &mut std::collections::HashMap<u64, Vec<usize>>,
    item: Value,
) -> bool {
    let bucket = seen.entry(value_key(&item, true)).or_default();
    if bucket.iter().any(|&i| arr[i] == item) {
        return false;
    }
    bucket.push(arr.len());
    arr.push(item);
    true
}

fn same_value(have: &Value, wanted: &Value, case_exact: bool) -> bool {
    match (have, wanted) {
        (Value::String(a), Value::String(b)) if !case_exact => a.eq_ignore_ascii_case(b),
        _ => have == wanted,
    }
}

/// The element a filter of equalities describes:
/// `[type eq "work"]` → `{"type": "work"}`. `None` for any other filter.
fn element_from_filter(attr: &'static AttrDef, filter: &Filter) -> Option<Map<String, Value>> {
    fn collect(
        attr: &'static AttrDef,
        f: &Filter,
        out: &mut Map<String, Value>,
        depth: u8,
    ) -> bool {
        if depth > 32 {
            return false;
        }
        match f {
            Filter::And(a, b) => {
                collect(attr, a, out, depth + 1) && collect(attr, b, out, depth + 1)
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } => {
                // Inside brackets a path is relative (`type`); tolerate the
                // absolute form (`emails.type`) too.
                let name = match (&path.urn, &path.sub) {
                    (None, None) => path.name.as_str(),
                    (None, Some(sub)) if path.name.eq_ignore_ascii_case(attr.name) => sub.as_str(),
                    _ => return false,
                };
                let Some(def) = schema::sub_attr(attr, name) else {
                    return false;
                };
                let v = match value {
                    CompValue::Str(s) => Value::String(s.clone()),
                    CompValue::Num(n) => Value::Number(n.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Null => return false,
                };
                out.insert(def.name.to_string(), v);
                true
            }
            _ => false,
        }
    }
    let mut out = Map::new();
    collect(attr, filter, &mut out, 0).then_some(out)
}

/// `members[value eq "a"]` (or an `or` of such) → `Remove(["a"])`; any
/// other filter is passed on for the store to evaluate.
fn removal_for_filter(filter: &Filter) -> MemberChange {
    fn ids(f: &Filter, out: &mut Vec<String>, depth: u8) -> bool {
        if depth > 64 {
            return false;
        }
        match f {
            Filter::Or(a, b) => ids(a, out, depth + 1) && ids(b, out, depth + 1),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::Str(id),
            } if path.urn.is_none()
                && path.sub.is_none()
                && path.name.eq_ignore_ascii_case("value") =>
            {
                out.push(id.clone());
                true
            }
            _ => false,
        }
    }
    let mut out = Vec::new();
    if ids(filter, &mut out, 0) {
        MemberChange::Remove(out)
    } else {
        MemberChange::RemoveWhere(filter.clone())
    }
}

/// Member ids from `[{"value": "<id>"}, …]` or a single `{"value": "<id>"}`.
fn member_ids(index: usize, value: Option<&Value>) -> Result<Vec<String>, ScimError> {
    let items: &[Value] = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v @ Value::Object(_)) => std::slice::from_ref(v),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "Operations[{index}]: members must be given as [{{\"value\": \"<id>\"}}, …], not {}.",
                json_kind(other)
            )));
        }
    };
    let mut ids = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let id = item.as_object().and_then(|m| {
            m.get("value").or_else(|| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                    .map(|(_, v)| v)
            })
        });
        match id {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                if seen.insert(s.as_str()) {
                    ids.push(s.clone());
                }
            }
            _ => {
                return Err(ScimError::invalid_value(format!(
                    "Operations[{index}]: member {i} must be an object with the member's id as a string \"value\", such as {{\"value\": \"2819c223-7f76-453a-919d-413861904646\"}}."
                )));
            }
        }
    }
    Ok(ids)
}

/// A path as the client meant it, for messages.
fn describe(p: &AttrPath, filtered: bool, sub_after: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(urn) = &p.urn {
        s.push_str(urn);
        s.push(':');
    }
    s.push_str(&p.name);
    if let Some(sub) = &p.sub {
        s.push('.');
        s.push_str(sub);
    }
    if filtered {
        s.push_str("[…]");
    }
    if let Some(sub) = sub_after {
        s.push('.');
        s.push_str(sub);
    }
    s
}

fn sub_attribute_list(attr: &'static AttrDef) -> String {
    attr.sub_attributes
        .iter()
        .map(|s| format!("\"{}\"", s.name))
        .collect::<Vec<_>>()
        .join(", ")
}
