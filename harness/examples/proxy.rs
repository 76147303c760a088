//! A slow link on loopback for trying things by hand: `proxy <target port> <rtt ms>
//! [mbit/s]` prints the port to use and keeps the link up until Enter.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target: u16 = args.first().map_or(Ok(22), |p| p.parse())?;
    let rtt: u64 = args.get(1).map_or(Ok(0), |r| r.parse())?;
    let mbit: Option<u64> = args.get(2).map(|m| m.parse()).transpose()?;
    let proxy = harness::proxy::Proxy::start(target, harness::proxy::Link::new(rtt, mbit))?;
    println!("{}", proxy.port());
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    eprintln!("{} bytes up, {} bytes down", proxy.bytes_up(), proxy.bytes_down());
    Ok(())
}
