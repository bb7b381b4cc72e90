use std::time::{Duration, SystemTime};

use super::*;

fn der(pem: &str) -> CertificateDer<'static> {
    first_cert_der(pem, "test").expect("a certificate")
}

fn worker(name: &str) -> Identity {
    Identity::new("worker", name).expect("valid name")
}

#[test]
fn identities_are_named_under_the_domain_and_checked() {
    assert_eq!(
        Identity::new("master", "3").unwrap().dns_name(),
        "node-3.masters.broadside.internal"
    );
    assert_eq!(worker("w-1").dns_name(), "w-1.workers.broadside.internal");
    assert_eq!(
        Identity::new("client", "ci").unwrap().file_stem(),
        "client-ci"
    );
    for (role, name) in [
        ("master", "0"),
        ("master", "x"),
        ("worker", "Upper"),
        ("worker", "a.b"),
        ("worker", "-a"),
        ("client", ""),
        ("admin", "a"),
    ] {
        let e = Identity::new(role, name).expect_err("refused");
        assert!(
            e.to_string().contains(name) || e.to_string().contains(role),
            "{e}"
        );
    }
    assert_eq!(
        "127.0.0.7".parse::<SubjectName>().unwrap(),
        SubjectName::Ip("127.0.0.7".parse().unwrap())
    );
    assert_eq!(
        "m1.example".parse::<SubjectName>().unwrap(),
        SubjectName::Dns("m1.example".into())
    );
    for bad in ["*.example.org", "a..b", "", "has space"] {
        let e = bad.parse::<SubjectName>().expect_err(bad);
        assert!(e.to_string().contains(&format!("`{bad}`")), "{e}");
    }
}

#[test]
fn an_issued_certificate_names_its_holder_and_nobody_else() {
    let ca = Ca::init("test").unwrap();
    let now = SystemTime::now();
    let master = Identity::Master(1);
    let issued = ca
        .issue(
            &master,
            &["127.0.0.1".parse().unwrap(), "m1.example".parse().unwrap()],
            DEFAULT_VALIDITY,
        )
        .unwrap();
    let (ca_der, cert) = (der(ca.cert_pem()), der(&issued.cert_pem));
    verify(&ca_der, &cert, &master, now).expect("master 1's certificate is master 1's");
    for other in [
        Identity::Master(2),
        worker("w1"),
        Identity::Client("1".into()),
    ] {
        assert!(
            matches!(
                verify(&ca_der, &cert, &other, now),
                Err(Error::NotIdentity(_))
            ),
            "{other}"
        );
    }
    let asked: Vec<SubjectName> = ["m1.example", "127.0.0.1", "m2.example", "::1"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    let missing = names_missing(&cert, &asked).unwrap();
    assert_eq!(missing, [&asked[2], &asked[3]]);
    // A worker's certificate may connect but not serve: it is no master's.
    let w = ca.issue(&worker("w1"), &[], DEFAULT_VALIDITY).unwrap();
    verify(&ca_der, &der(&w.cert_pem), &worker("w1"), now).unwrap();
    assert!(verify(&ca_der, &der(&w.cert_pem), &worker("w2"), now).is_err());
}

#[test]
fn another_ca_and_an_expired_certificate_are_refused() {
    let (ours, theirs) = (Ca::init("ours").unwrap(), Ca::init("theirs").unwrap());
    let who = worker("w1");
    let foreign = theirs.issue(&who, &[], DEFAULT_VALIDITY).unwrap();
    let now = SystemTime::now();
    assert!(matches!(
        verify(&der(ours.cert_pem()), &der(&foreign.cert_pem), &who, now),
        Err(Error::Refused(_))
    ));
    let short = ours.issue(&who, &[], Duration::from_secs(60)).unwrap();
    let later = now + Duration::from_secs(3600);
    assert!(matches!(
        verify(&der(ours.cert_pem()), &der(&short.cert_pem), &who, later),
        Err(Error::Refused(_))
    ));
}

#[test]
fn a_ca_read_back_from_its_files_issues_certificates_that_chain_to_it() {
    let ca = Ca::init("test").unwrap();
    let again = Ca::from_pem(ca.cert_pem(), &ca.key_pem()).expect("read back");
    assert_eq!(again.cert_pem(), ca.cert_pem());
    let who = Identity::Client("ci".into());
    let issued = again.issue(&who, &[], DEFAULT_VALIDITY).unwrap();
    verify(
        &der(ca.cert_pem()),
        &der(&issued.cert_pem),
        &who,
        SystemTime::now(),
    )
    .unwrap();
    assert!(matches!(
        Ca::from_pem("not pem", &ca.key_pem()),
        Err(Error::Rcgen { .. })
    ));
    assert!(matches!(first_cert_der("junk", "x"), Err(Error::Pem("x"))));
}

#[test]
fn a_certificate_says_who_holds_it() {
    for who in [
        Identity::Master(3),
        worker("w-1"),
        Identity::Client("ci".into()),
    ] {
        assert_eq!(Identity::from_dns_name(&who.dns_name()), Some(who.clone()));
        let ca = Ca::init("test").unwrap();
        let extra = [SubjectName::Ip([127, 0, 0, 1].into())];
        let issued = ca.issue(&who, &extra, DEFAULT_VALIDITY).unwrap();
        assert_eq!(tls::identity_of(&der(&issued.cert_pem)), Some(who.clone()));
    }
    for name in [
        "node-0.masters.broadside.internal",
        "node-x.masters.broadside.internal",
        "w1.workers.example.org",
        "a.b.workers.broadside.internal",
        "masters.broadside.internal",
        "w1.others.broadside.internal",
    ] {
        assert_eq!(Identity::from_dns_name(name), None, "{name}");
    }
}

#[test]
fn no_second_identity_under_the_domain() {
    let ca = Ca::init("test").unwrap();
    for extra in [
        "*.masters.broadside.internal",
        "node-2.masters.broadside.internal",
    ] {
        let names = [SubjectName::Dns(extra.into())];
        assert!(
            matches!(
                ca.issue(&Identity::Master(1), &names, DEFAULT_VALIDITY),
                Err(Error::Refused(_))
            ),
            "{extra}"
        );
    }
}

#[test]
fn cluster_tls_material_is_checked_when_loaded() {
    let ca = Ca::init("test").unwrap();
    let who = Identity::Master(1);
    let issued = ca.issue(&who, &[], DEFAULT_VALIDITY).unwrap();
    let tls = tls::ClusterTls::from_pem(ca.cert_pem(), &issued.cert_pem, &issued.key_pem)
        .expect("valid material");
    assert_eq!(tls.identity(), Some(&who));
    tls.server_config().expect("a master serves");
    // Another CA's certificate, an expired one, a key of another certificate: refused.
    let other = Ca::init("other").unwrap();
    let foreign = other.issue(&who, &[], DEFAULT_VALIDITY).unwrap();
    assert!(tls::ClusterTls::from_pem(ca.cert_pem(), &foreign.cert_pem, &foreign.key_pem).is_err());
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = ca
        .issue_between(&who, &[], now - 2 * day, now - day)
        .unwrap();
    assert!(matches!(
        tls::ClusterTls::from_pem(ca.cert_pem(), &expired.cert_pem, &expired.key_pem),
        Err(Error::Refused(_))
    ));
    assert!(tls::ClusterTls::from_pem(ca.cert_pem(), &issued.cert_pem, &foreign.key_pem).is_err());
    // A worker has no server side; a REST configuration offers h2 and http/1.1.
    let w = ca.issue(&worker("w1"), &[], DEFAULT_VALIDITY).unwrap();
    let wtls = tls::ClusterTls::from_pem(ca.cert_pem(), &w.cert_pem, &w.key_pem).unwrap();
    wtls.client_config().expect("a worker connects");
    let rest = tls::rest_server_config(&issued.cert_pem, &issued.key_pem).unwrap();
    assert_eq!(
        rest.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    assert!(tls::rest_server_config("junk", &issued.key_pem).is_err());
}
