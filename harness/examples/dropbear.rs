//! Start a throwaway dropbear and user, print how to reach it, keep it up until Enter.
fn main() -> anyhow::Result<()> {
    let sshd = harness::Sshd::start_dropbear()?;
    let user = sshd.user()?;
    println!(
        "{} {} {} {}",
        sshd.destination(&user),
        user.key.display(),
        sshd.known_hosts()?.display(),
        user.home.display()
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(())
}
