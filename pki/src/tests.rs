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
