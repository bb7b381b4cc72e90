//! Tokens, secrets, project settings and the audit log.

use std::collections::BTreeMap;

use broadside_raft_store::model::{Actor, ProjectRole, ProjectSettings, SecretBytes, Token};
use broadside_raft_store::{
    Command, PageRequest, RejectCode, Request, RequestId, Response, Sha256,
};

use super::{code, ok, Harness};

fn token(id: &str, admin: bool, projects: &[(&str, ProjectRole)]) -> Token {
    Token {
        id: id.into(),
        name: format!("{id} token"),
        secret_sha256: Sha256::of(id.as_bytes()),
        created_by: "test".into(),
        created_at_ms: 0,
        expires_at_ms: None,
        revoked_at_ms: None,
        admin,
        projects: projects
            .iter()
            .map(|(p, r)| ((*p).to_owned(), *r))
            .collect::<BTreeMap<_, _>>(),
    }
}

async fn project(h: &mut Harness, name: &str) {
    ok(&h
        .run(Command::CreateProject {
            name: name.into(),
            description: String::new(),
        })
        .await);
}

#[tokio::test]
async fn the_first_token_is_bootstrapped_once_and_tokens_are_revoked() {
    let mut h = Harness::new();
    assert_eq!(
        code(
            &h.run(Command::BootstrapToken(token("t0", false, &[])))
                .await
        ),
        Some(RejectCode::BadRequest),
        "the first token is an admin"
    );
    ok(&h
        .run(Command::BootstrapToken(token("root", true, &[])))
        .await);
    assert_eq!(
        code(
            &h.run(Command::BootstrapToken(token("again", true, &[])))
                .await
        ),
        Some(RejectCode::Conflict)
    );
    project(&mut h, "shop").await;
    assert_eq!(
        code(
            &h.run(Command::CreateToken(token(
                "v",
                false,
                &[("nowhere", ProjectRole::Viewer)]
            )))
            .await
        ),
        Some(RejectCode::NotFound)
    );
    ok(&h
        .run(Command::CreateToken(token(
            "v",
            false,
            &[("shop", ProjectRole::Viewer)],
        )))
        .await);
    let created_at = h.now;
    assert_eq!(
        code(&h.run(Command::CreateToken(token("v", true, &[]))).await),
        Some(RejectCode::Conflict),
        "ids are unique"
    );
    // Token writes move the tokens generation (what caches of tokens check); others do not.
    let generation = h.reader().tokens_generation();
    project(&mut h, "unrelated").await;
    assert_eq!(h.reader().tokens_generation(), generation);
    let r = h.reader();
    let v = r.token("v").unwrap().expect("stored");
    assert!(v.is_valid_at(h.now));
    assert_eq!(v.created_at_ms, created_at);
    ok(&h.run(Command::RevokeToken { id: "v".into() }).await);
    assert!(h.reader().tokens_generation() > generation);
    let revoked = h.reader().token("v").unwrap().expect("kept");
    assert!(!revoked.is_valid_at(h.now));
    // Revoking twice changes nothing; an unknown token is not found.
    ok(&h.run(Command::RevokeToken { id: "v".into() }).await);
    assert_eq!(
        h.reader().token("v").unwrap().unwrap().revoked_at_ms,
        revoked.revoked_at_ms
    );
    assert_eq!(
        code(&h.run(Command::RevokeToken { id: "nope".into() }).await),
        Some(RejectCode::NotFound)
    );
    assert_eq!(
        h.reader()
            .list_tokens(&PageRequest::default())
            .unwrap()
            .items
            .len(),
        2
    );
}

#[test]
fn an_expired_token_is_not_valid() {
    let mut t = token("e", false, &[]);
    t.expires_at_ms = Some(1000);
    assert!(t.is_valid_at(999));
    assert!(!t.is_valid_at(1000));
}

#[tokio::test]
async fn secrets_are_listed_by_name_and_go_with_their_project() {
    let mut h = Harness::new();
    project(&mut h, "shop").await;
    ok(&h
        .run(Command::CreateToken(token(
            "m",
            false,
            &[("shop", ProjectRole::Maintainer)],
        )))
        .await);
    let put = |name: &str, value: &[u8]| Command::PutSecret {
        project: "shop".into(),
        name: name.into(),
        value: SecretBytes(value.to_vec()),
    };
    ok(&h.run(put("api_key", b"k-1234567")).await);
    ok(&h.run(put("other", b"v-7654321")).await);
    assert_eq!(
        code(&h.run(put("bad name", b"value")).await),
        Some(RejectCode::BadRequest)
    );
    assert_eq!(
        code(&h.run(put("short", b"ab")).await),
        Some(RejectCode::BadRequest)
    );
    assert_eq!(
        code(
            &h.run(Command::PutSecret {
                project: "nowhere".into(),
                name: "x".into(),
                value: SecretBytes(b"value".to_vec())
            })
            .await
        ),
        Some(RejectCode::NotFound)
    );
    let r = h.reader();
    assert_eq!(r.secret_names("shop").unwrap(), ["api_key", "other"]);
    assert_eq!(r.secrets("shop").unwrap()[0].value.0, b"k-1234567");
    ok(&h
        .run(Command::DeleteSecret {
            project: "shop".into(),
            name: "other".into(),
        })
        .await);
    assert_eq!(h.reader().secret_names("shop").unwrap(), ["api_key"]);
    ok(&h
        .run(Command::SetProjectSettings {
            project: "shop".into(),
            settings: ProjectSettings {
                targets: vec!["127.0.0.1:8088".into(), "127.0.0.0/8".into()],
            },
        })
        .await);
    assert_eq!(
        h.reader().project_settings("shop").unwrap().targets.len(),
        2
    );

    // Deleting the project takes its secrets, its settings and every role on it: a project
    // created again under the name starts with nobody's roles.
    ok(&h
        .run(Command::DeleteProject {
            name: "shop".into(),
        })
        .await);
    project(&mut h, "shop").await;
    let r = h.reader();
    assert!(r.secret_names("shop").unwrap().is_empty());
    assert!(r.project_settings("shop").unwrap().targets.is_empty());
    assert!(r.token("m").unwrap().unwrap().projects.is_empty());
}

#[tokio::test]
async fn accepted_writes_with_an_actor_are_audited_never_with_secrets() {
    let mut h = Harness::new();
    let actor = Actor {
        token_id: "m".into(),
        name: "maintainer".into(),
        request: "req-1".into(),
    };
    let mut at = h.now;
    // Ids far from the harness's own (which numbers its requests from 1).
    let mut by = |command: Command, id: u128| {
        at += 1000;
        Request::by(RequestId(id), at, command, Some(actor.clone()), None)
    };
    let create = by(
        Command::CreateProject {
            name: "shop".into(),
            description: String::new(),
        },
        1001,
    );
    let secret = by(
        Command::PutSecret {
            project: "shop".into(),
            name: "api_key".into(),
            value: SecretBytes(b"super-secret".to_vec()),
        },
        2002,
    );
    let refused = by(
        Command::CreateProject {
            name: "shop".into(),
            description: String::new(),
        },
        3003,
    );
    ok(&h.apply_request(create).await);
    ok(&h.apply_request(secret).await);
    assert!(matches!(
        h.apply_request(refused).await,
        Response::Rejected { .. }
    ));
    // A write without an actor (a master's own) is not audited.
    ok(&h
        .run(Command::CreateProject {
            name: "other".into(),
            description: String::new(),
        })
        .await);
    // A grant and its revocation concern every project the token holds roles on.
    let roles = [
        ("shop", ProjectRole::Viewer),
        ("other", ProjectRole::Runner),
    ];
    ok(&h
        .apply_request(by(Command::CreateToken(token("t2", false, &roles)), 4004))
        .await);
    ok(&h
        .apply_request(by(Command::RevokeToken { id: "t2".into() }, 5005))
        .await);
    let r = h.reader();
    let all = r.audit(None, &PageRequest::default()).unwrap().items;
    let actions: Vec<&str> = all.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "create_project",
            "put_secret",
            "create_token",
            "revoke_token"
        ]
    );
    assert_eq!(all[1].target, "api_key");
    assert_eq!(all[1].actor, actor);
    let text = format!("{all:?}");
    assert!(!text.contains("super-secret"), "{text}");
    let of = |project: &str| {
        r.audit(Some(project), &PageRequest::default())
            .unwrap()
            .items
    };
    assert_eq!(of("shop"), all);
    assert_eq!(of("other"), all[2..]);
}
