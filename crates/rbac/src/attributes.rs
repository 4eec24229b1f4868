//! Request attributes: who asks to do what, as kube-apiserver hands them to an authorizer.

use std::borrow::Cow;

use crate::subject::User;

/// One authorization request (`authorizer.Attributes`).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    /// The user and their groups, exactly as authenticated (nothing is added here).
    pub user: &'a User,
    /// The verb (`get`, `create`, …); for non-resource requests the lower-case HTTP verb.
    pub verb: &'a str,
    /// A resource or a non-resource request.
    pub request: Request<'a>,
}

/// What the request is about.
#[derive(Debug, Clone)]
pub enum Request<'a> {
    /// A request for an API resource.
    Resource(ResourceAttributes<'a>),
    /// A request for a non-resource URL such as `/healthz`.
    NonResource(NonResourceAttributes<'a>),
}

/// The resource part of a request; empty strings mean "not given".
#[derive(Debug, Clone, Copy, Default)]
pub struct ResourceAttributes<'a> {
    /// Namespace; empty for cluster-scoped resources and cluster-wide requests.
    pub namespace: &'a str,
    /// API group; empty for the core group.
    pub api_group: &'a str,
    /// Plural resource name.
    pub resource: &'a str,
    /// Subresource, e.g. `log`, `vnc/screenshot`.
    pub subresource: &'a str,
    /// Object name; empty for list, watch, create and deletecollection.
    pub name: &'a str,
}

/// The non-resource part of a request.
#[derive(Debug, Clone, Copy)]
pub struct NonResourceAttributes<'a> {
    /// URL path, e.g. `/healthz`.
    pub path: &'a str,
}

impl<'a> ResourceAttributes<'a> {
    /// `resource/subresource` as RBAC compares it (the resource alone without a subresource).
    pub fn combined_resource(&self) -> Cow<'a, str> {
        if self.subresource.is_empty() {
            Cow::Borrowed(self.resource)
        } else {
            Cow::Owned(format!("{}/{}", self.resource, self.subresource))
        }
    }
}

impl<'a> Attributes<'a> {
    /// A resource request.
    pub fn resource(user: &'a User, verb: &'a str, attrs: ResourceAttributes<'a>) -> Self {
        Attributes {
            user,
            verb,
            request: Request::Resource(attrs),
        }
    }

    /// A non-resource request.
    pub fn non_resource(user: &'a User, verb: &'a str, path: &'a str) -> Self {
        Attributes {
            user,
            verb,
            request: Request::NonResource(NonResourceAttributes { path }),
        }
    }

    /// The namespace the request is in (empty for cluster-wide and non-resource requests).
    pub fn namespace(&self) -> &'a str {
        match &self.request {
            Request::Resource(r) => r.namespace,
            Request::NonResource(_) => "",
        }
    }
}
