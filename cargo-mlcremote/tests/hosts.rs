//! Deploy into the hosts people really have: other login shells with noisy start-up
//! files, and Dropbear instead of OpenSSH.

mod common;

use common::{Client, report, server, text};
use harness::Sshd;

#[test]
fn any_login_shell_with_start_up_noise_changes_nothing() {
    let sshd = Sshd::start().unwrap();
    let client = Client::new();
    for (shell, package) in [
        ("/bin/bash", "bash"),
        ("/usr/bin/zsh", "zsh"),
        ("/usr/bin/fish", "fish"),
        ("/usr/bin/tcsh", "tcsh"),
        ("/bin/dash", "dash"),
    ] {
        assert!(
            std::path::Path::new(shell).exists(),
            "{shell} is missing: apt-get install {package}"
        );
        let user = sshd.noisy_user(shell).unwrap();
        let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json"]);
        assert!(out.status.success(), "{shell}: {}\n{}", text(&out), sshd.log());
        let report = report(&out);
        assert_eq!(report["health"]["status"], "ok", "{shell}");
        let status = client.command(&sshd, &user, "status", &["--json"]);
        assert!(status.status.success(), "{shell}: {}", text(&status));
        let logs = client.command(&sshd, &user, "logs", &["-n", "3"]);
        let logs = String::from_utf8_lossy(&logs.stdout);
        assert!(
            !logs.contains("Welcome!"),
            "{shell}: start-up noise leaked into the output: {logs}"
        );
        assert!(logs.contains("listening on"), "{shell}: {logs}");
    }
}

#[test]
fn dropbear_installs_upgrades_skips_and_runs_the_lifecycle_like_openssh() {
    let sshd = Sshd::start_dropbear().unwrap();
    let client = Client::new();
    let user = sshd.user().unwrap();
    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json"]);
    assert!(out.status.success(), "{}\ndropbear: {}", text(&out), sshd.log());
    assert_eq!(report(&out)["result"], "installed");
    // Again, forced: the upload split over channels (Dropbear's window is 24 KiB).
    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json", "--force"]);
    assert!(out.status.success(), "{}\ndropbear: {}", text(&out), sshd.log());
    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json"]);
    assert_eq!(report(&out)["result"], "up to date", "{}", text(&out));
    for command in ["status", "stop", "restart"] {
        let out = client.command(&sshd, &user, command, &[]);
        assert!(out.status.success(), "{command}: {}", text(&out));
    }
}
