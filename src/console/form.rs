//! The console's form bodies (`application/x-www-form-urlencoded`), read
//! into the handler's type with an HTML error page, not axum's plain text,
//! when they cannot be read; and, for the forms of session pages, the CSRF
//! token checked before the handler runs.

use std::fmt;
use std::marker::PhantomData;

use axum::extract::{FromRequest, Request};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

use super::ConsoleError;
use super::session::{require_csrf, session_from};

/// A form body (`application/x-www-form-urlencoded`) whose rejection is an
/// HTML error page rather than axum's plain-text one.
pub struct HtmlForm<T>(pub T);

impl<S, T> FromRequest<S> for HtmlForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(HtmlForm(value)),
            Err(rejection) => Err(ConsoleError::bad_request(
                "The form could not be read",
                format!(
                    "{}. Reload the page and submit the form again.",
                    rejection.body_text().trim_end_matches('.')
                ),
            )),
        }
    }
}

/// A form of a session's page, whose hidden `csrf` field must be the
/// session's token: without it the request is refused with
/// [`ConsoleError::form_expired`] before the handler runs, and the handler
/// gets the other fields as `T`. A body that cannot be read is refused as
/// [`HtmlForm`] refuses it, before the token is looked at.
pub struct CsrfForm<T>(pub T);

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let session = session_from(req.extensions())?;
        let HtmlForm(Fields { csrf, rest }) =
            HtmlForm::<Fields<T>>::from_request(req, state).await?;
        require_csrf(&session, csrf.as_deref()).await?;
        Ok(CsrfForm(rest))
    }
}

/// The fields of a form that carries nothing but its CSRF token (a button
/// that deletes, revokes, disables…): `CsrfForm<CsrfOnly>`.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {}

/// A form's `csrf` field set apart from the others, which are read into
/// `T` as if the token were not there.
struct Fields<T> {
    csrf: Option<String>,
    rest: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Fields<T> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for FieldsVisitor<T> {
            type Value = Fields<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("form fields")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Fields<T>, A::Error> {
                let mut csrf = None;
                let rest = T::deserialize(de::value::MapAccessDeserializer::new(WithoutCsrf {
                    map,
                    csrf: &mut csrf,
                }))?;
                Ok(Fields { csrf, rest })
            }
        }

        deserializer.deserialize_map(FieldsVisitor(PhantomData))
    }
}

/// A form's fields but `csrf`, whose value is kept aside. A second `csrf`
/// field is an error, as it is for any field of a derived `Deserialize`.
struct WithoutCsrf<'a, A> {
    map: A,
    csrf: &'a mut Option<String>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WithoutCsrf<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<String>()? {
            if key != "csrf" {
                return seed
                    .deserialize(IntoDeserializer::<A::Error>::into_deserializer(key))
                    .map(Some);
            }
            if self.csrf.is_some() {
                return Err(de::Error::duplicate_field("csrf"));
            }
            *self.csrf = Some(self.map.next_value()?);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Named {
        name: Option<String>,
        days: u32,
    }

    async fn read<T: DeserializeOwned>(body: &'static str) -> Result<Fields<T>, String> {
        let req = Request::builder()
            .method("POST")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .expect("a request");
        match HtmlForm::<Fields<T>>::from_request(req, &()).await {
            Ok(HtmlForm(fields)) => Ok(fields),
            Err(e) => Err(e.message),
        }
    }

    #[tokio::test]
    async fn the_token_is_set_apart_and_the_other_fields_read_as_the_type() {
        let form = read::<Named>("name=a+b&csrf=tok&days=7")
            .await
            .expect("read");
        assert_eq!(form.csrf.as_deref(), Some("tok"));
        assert_eq!(
            form.rest,
            Named {
                name: Some("a b".to_string()),
                days: 7
            }
        );
        let form = read::<Named>("days=1").await.expect("read");
        assert_eq!(form.csrf, None);
        let form = read::<CsrfOnly>("csrf=&other=1").await.expect("read");
        assert_eq!(form.csrf.as_deref(), Some(""));
    }

    #[tokio::test]
    async fn a_repeated_token_is_refused_like_any_repeated_field() {
        for (body, field) in [("csrf=a&days=1&csrf=b", "csrf"), ("days=1&days=2", "days")] {
            let error = read::<Named>(body).await.err();
            let expected = format!("duplicate field `{field}`");
            assert!(
                error.as_deref().is_some_and(|e| e.contains(&expected)),
                "{body}: {error:?}"
            );
        }
    }
}
