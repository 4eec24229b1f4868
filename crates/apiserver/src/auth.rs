//! Who is asking and whether they may: kube-apiserver's x509 and anonymous authentication,
//! its impersonation filter (`k8s.io/apiserver/pkg/endpoints/filters/impersonation.go`) and its
//! authorizer chain (the privileged group `system:masters`, then RBAC), with the `Forbidden`
//! messages of `responsewriters.Forbidden`.

use std::collections::BTreeMap;

use http::HeaderMap;
use virtguard_rbac::{
    Attributes, Policy, ResourceAttributes, User, ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS,
};

use crate::status::ApiError;

/// kube-apiserver's privileged group: allowed everything before any other authorizer runs.
pub use virtguard_rbac::SYSTEM_MASTERS;

/// An authenticated identity (`user.Info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// UID (empty when unknown).
    pub uid: String,
    /// Groups, in order.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The identity of a verified client certificate: CN = user, each O = a group, plus
    /// `system:authenticated` (the authenticated-group adder), unless a group already says
    /// `system:authenticated` or `system:unauthenticated`.
    pub fn from_certificate(common_name: &str, organizations: &[String]) -> UserInfo {
        let mut groups = organizations.to_vec();
        if !groups
            .iter()
            .any(|g| g == ALL_AUTHENTICATED || g == ALL_UNAUTHENTICATED)
        {
            groups.push(ALL_AUTHENTICATED.to_string());
        }
        UserInfo {
            name: common_name.to_string(),
            groups,
            ..UserInfo::default()
        }
    }

    /// A request without credentials: `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: ANONYMOUS.to_string(),
            groups: vec![ALL_UNAUTHENTICATED.to_string()],
            ..UserInfo::default()
        }
    }

    /// The RBAC user (name and groups).
    pub fn rbac_user(&self) -> User {
        User::new(self.name.clone(), self.groups.clone())
    }

    /// Whether the user is in kube-apiserver's privileged group.
    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }
}

/// What an authorizer is asked (`authorizer.AttributesRecord`), owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// The verb.
    pub verb: String,
    /// Resource request (else non-resource `path`).
    pub resource_request: bool,
    /// Namespace.
    pub namespace: String,
    /// API group.
    pub group: String,
    /// Resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Name.
    pub name: String,
    /// Non-resource URL path.
    pub path: String,
}

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Allowed.
    pub allowed: bool,
    /// The reason (RBAC's, or empty).
    pub reason: String,
}

/// The authorizer chain: `system:masters` → RBAC.
pub fn authorize(policy: &Policy, user: &UserInfo, check: &Check) -> Verdict {
    if user.is_master() {
        return Verdict {
            allowed: true,
            reason: String::new(),
        };
    }
    let rbac_user = user.rbac_user();
    let attrs = if check.resource_request {
        Attributes::resource(
            &rbac_user,
            &check.verb,
            ResourceAttributes {
                namespace: &check.namespace,
                api_group: &check.group,
                resource: &check.resource,
                subresource: &check.subresource,
                name: &check.name,
            },
        )
    } else {
        Attributes::non_resource(&rbac_user, &check.verb, &check.path)
    };
    let d = policy.decide(&attrs);
    Verdict {
        allowed: d.allowed,
        reason: d.reason(policy),
    }
}

/// `forbiddenMessage`: `User "alice" cannot list resource "pods" in API group "" in the
/// namespace "prod"`.
pub fn forbidden_message(user: &str, check: &Check) -> String {
    if !check.resource_request {
        return format!(
            "User \"{user}\" cannot {} path \"{}\"",
            check.verb, check.path
        );
    }
    let mut resource = check.resource.clone();
    if !check.subresource.is_empty() {
        resource.push('/');
        resource.push_str(&check.subresource);
    }
    if check.namespace.is_empty() {
        format!(
            "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" at the cluster scope",
            check.verb, check.group
        )
    } else {
        format!(
            "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" in the namespace \"{}\"",
            check.verb, check.group, check.namespace
        )
    }
}

/// `responsewriters.Forbidden`: the 403 `Status` for a denied check.
pub fn forbidden(user: &str, check: &Check, reason: &str) -> ApiError {
    let mut err = forbidden_message(user, check);
    if !reason.is_empty() {
        err.push_str(": ");
        err.push_str(reason);
    }
    if check.resource_request {
        ApiError::forbidden(&check.group, &check.resource, &check.name, &err)
    } else {
        ApiError::forbidden("", "", "", &err)
    }
}

/// Authorizes `check` for `user`, or the 403 to answer.
pub fn require(policy: &Policy, user: &UserInfo, check: &Check) -> Result<(), ApiError> {
    let v = authorize(policy, user, check);
    if v.allowed {
        Ok(())
    } else {
        Err(forbidden(&user.name, check, &v.reason))
    }
}

/// `system:serviceaccount:NS:NAME` → (NS, NAME), as `serviceaccount.SplitUsername`.
fn split_service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    if ns.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((ns, name))
}

/// The impersonation headers.
const IMPERSONATE_USER: &str = "impersonate-user";
const IMPERSONATE_GROUP: &str = "impersonate-group";
const IMPERSONATE_UID: &str = "impersonate-uid";
const IMPERSONATE_EXTRA: &str = "impersonate-extra-";

fn header_values<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// Applies the impersonation headers, as kube-apiserver's filter does: each impersonated
/// attribute must be allowed to `requester` (verb `impersonate` on `users`, `serviceaccounts`,
/// `groups`, `userextras/<key>`, `uids`), then the groups the server adds are added. Without
/// impersonation headers the requester is returned unchanged.
pub fn impersonate(
    policy: &Policy,
    requester: &UserInfo,
    headers: &HeaderMap,
) -> Result<UserInfo, ApiError> {
    let user = headers
        .get(IMPERSONATE_USER)
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| ApiError::bad_request("Impersonate-User is not valid text"))?
        .filter(|u| !u.is_empty());
    let groups_given: Vec<String> = header_values(headers, IMPERSONATE_GROUP)
        .into_iter()
        .map(str::to_string)
        .collect();
    let uid = header_values(headers, IMPERSONATE_UID)
        .first()
        .map(|s| s.to_string())
        .filter(|u| !u.is_empty());
    let mut extras: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(IMPERSONATE_EXTRA) {
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .to_ascii_lowercase();
            let value = value
                .to_str()
                .map_err(|_| ApiError::bad_request(format!("{name} is not valid text")))?;
            extras.entry(key).or_default().push(value.to_string());
        }
    }
    let Some(user_name) = user else {
        if groups_given.is_empty() && extras.is_empty() && uid.is_none() {
            return Ok(requester.clone());
        }
        let mut requested: Vec<String> = groups_given
            .iter()
            .map(|g| format!("Group {g:?}"))
            .collect();
        requested.extend(extras.iter().map(|(k, v)| format!("UserExtra {k}={v:?}")));
        requested.extend(uid.iter().map(|u| format!("UID {u:?}")));
        // impersonation.go answers this with responsewriters.InternalError (500), although
        // it is the client's mistake.
        return Err(ApiError::internal(format!(
            "requested [{}] without impersonating a user",
            requested.join(" ")
        )));
    };

    let mut groups: Vec<String> = Vec::new();
    let mut checks: Vec<Check> = Vec::new();
    let imp = |resource: &str, group: &str, namespace: &str, name: &str, sub: &str| Check {
        verb: "impersonate".to_string(),
        resource_request: true,
        namespace: namespace.to_string(),
        group: group.to_string(),
        resource: resource.to_string(),
        subresource: sub.to_string(),
        name: name.to_string(),
        path: String::new(),
    };
    match split_service_account(&user_name) {
        Some((ns, name)) => {
            checks.push(imp("serviceaccounts", "", ns, name, ""));
            if groups_given.is_empty() {
                groups.push("system:serviceaccounts".to_string());
                groups.push(format!("system:serviceaccounts:{ns}"));
            }
        }
        None => checks.push(imp("users", "", "", &user_name, "")),
    }
    for g in &groups_given {
        checks.push(imp("groups", "", "", g, ""));
        groups.push(g.clone());
    }
    for (k, vs) in &extras {
        for v in vs {
            checks.push(imp("userextras", "authentication.k8s.io", "", v, k));
        }
    }
    if let Some(u) = &uid {
        checks.push(imp("uids", "authentication.k8s.io", "", u, ""));
    }
    for c in &checks {
        let v = authorize(policy, requester, c);
        if !v.allowed {
            return Err(forbidden(&requester.name, c, &v.reason));
        }
    }
    if user_name != ANONYMOUS {
        if !groups
            .iter()
            .any(|g| g == ALL_AUTHENTICATED || g == ALL_UNAUTHENTICATED)
        {
            groups.push(ALL_AUTHENTICATED.to_string());
        }
    } else if !groups.iter().any(|g| g == ALL_UNAUTHENTICATED) {
        groups.push(ALL_UNAUTHENTICATED.to_string());
    }
    Ok(UserInfo {
        name: user_name,
        uid: uid.unwrap_or_default(),
        groups,
        extra: extras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use virtguard_rbac::{Binding, PolicyRule, Role, Subject, SubjectKind};

    fn policy() -> Policy {
        // admin may impersonate user alice, group devs, SA ci/builder and the extra scopes=a.
        let role = Role::cluster(
            "impersonator",
            vec![
                PolicyRule::resource(&["impersonate"], &[""], &["users"]).with_names(&["alice"]),
                PolicyRule::resource(&["impersonate"], &[""], &["groups"]).with_names(&["devs"]),
                PolicyRule::resource(&["impersonate"], &[""], &["serviceaccounts"]),
                PolicyRule::resource(
                    &["impersonate"],
                    &["authentication.k8s.io"],
                    &["userextras/scopes"],
                ),
            ],
        );
        let binding = Binding::cluster(
            "admin-impersonates",
            "impersonator",
            vec![Subject::new(SubjectKind::User, "admin", "")],
        );
        let p = Policy::new(vec![role], vec![binding]);
        p.build_index();
        p
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn admin() -> UserInfo {
        UserInfo::from_certificate("admin", &[])
    }

    #[test]
    fn certificate_identity_gets_authenticated() {
        let u = UserInfo::from_certificate("alice", &["devs".into()]);
        assert_eq!(u.groups, ["devs", "system:authenticated"]);
        assert_eq!(UserInfo::anonymous().groups, ["system:unauthenticated"]);
    }

    #[test]
    fn no_headers_is_the_requester() {
        assert_eq!(
            impersonate(&policy(), &admin(), &HeaderMap::new()).unwrap(),
            admin()
        );
    }

    #[test]
    fn impersonated_user_gets_authenticated() {
        let u = impersonate(
            &policy(),
            &admin(),
            &headers(&[("Impersonate-User", "alice")]),
        )
        .unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["system:authenticated"]);
        let u = impersonate(
            &policy(),
            &admin(),
            &headers(&[
                ("Impersonate-User", "alice"),
                ("Impersonate-Group", "devs"),
                ("Impersonate-Extra-Scopes", "a"),
            ]),
        )
        .unwrap();
        assert_eq!(u.groups, ["devs", "system:authenticated"]);
        assert_eq!(u.extra.get("scopes").unwrap(), &["a"]);
    }

    #[test]
    fn service_accounts_get_their_groups_unless_groups_are_given() {
        let u = impersonate(
            &policy(),
            &admin(),
            &headers(&[("Impersonate-User", "system:serviceaccount:ci:builder")]),
        )
        .unwrap();
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn denied_impersonation_names_what_was_refused() {
        let e = impersonate(
            &policy(),
            &admin(),
            &headers(&[("Impersonate-User", "bob")]),
        )
        .unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "users \"bob\" is forbidden: User \"admin\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        );
        let e = impersonate(
            &policy(),
            &admin(),
            &headers(&[
                ("Impersonate-User", "alice"),
                ("Impersonate-Group", "system:masters"),
            ]),
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("groups \"system:masters\" is forbidden"),
            "{}",
            e.message
        );
        let e = impersonate(
            &policy(),
            &UserInfo::from_certificate("eve", &[]),
            &headers(&[("Impersonate-User", "alice")]),
        )
        .unwrap_err();
        assert!(
            e.message.contains("User \"eve\" cannot impersonate"),
            "{}",
            e.message
        );
        let e = impersonate(
            &policy(),
            &admin(),
            &headers(&[("Impersonate-User", "alice"), ("Impersonate-Uid", "42")]),
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("uids.authentication.k8s.io \"42\" is forbidden"),
            "{}",
            e.message
        );
    }

    #[test]
    fn groups_without_a_user_are_an_internal_error_as_in_impersonation_go() {
        let e = impersonate(
            &policy(),
            &admin(),
            &headers(&[("Impersonate-Group", "devs")]),
        )
        .unwrap_err();
        assert_eq!((e.code, e.reason), (500, "InternalError"));
        assert!(e.message.contains("without impersonating a user"));
    }

    #[test]
    fn masters_may_impersonate_anyone_and_anonymous_stays_unauthenticated() {
        let root = UserInfo::from_certificate("root", &[SYSTEM_MASTERS.into()]);
        let u = impersonate(
            &policy(),
            &root,
            &headers(&[("Impersonate-User", "system:anonymous")]),
        )
        .unwrap();
        assert_eq!(u.groups, ["system:unauthenticated"]);
    }

    #[test]
    fn masters_are_allowed_before_rbac() {
        let check = Check {
            verb: "delete".into(),
            resource_request: true,
            resource: "nodes".into(),
            ..Check::default()
        };
        assert!(!authorize(&policy(), &admin(), &check).allowed);
        let root = UserInfo::from_certificate("root", &[SYSTEM_MASTERS.into()]);
        assert!(authorize(&policy(), &root, &check).allowed);
        let path = Check {
            verb: "get".into(),
            path: "/apis".into(),
            ..Check::default()
        };
        assert_eq!(
            forbidden("bob", &path, "").message,
            "forbidden: User \"bob\" cannot get path \"/apis\""
        );
    }
}
