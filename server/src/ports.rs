//! `GET /api/ports`: the TCP ports listening on the host, for the page's Ports view (a dev
//! server on :8080 is opened through the SSH connection). Linux reads `/proc/net/tcp` and
//! `tcp6`; elsewhere the answer says the list is not available (a port can still be
//! forwarded by its number). This server's own port is left out.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;

use crate::api::{ApiError, AppState};

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Listening {
    port: u16,
    /// Where it listens: `127.0.0.1`, `0.0.0.0`, `::1`, `::`, or another address.
    address: String,
    /// Whether this account runs it.
    mine: bool,
}

pub async fn list(State(app): State<Arc<AppState>>) -> Result<Json<Vec<Listening>>, ApiError> {
    let own = app.port;
    let tables: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    if tables.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "listing ports needs Linux's /proc/net/tcp; forward a port by its number",
        ));
    }
    let uid = rustix::process::getuid().as_raw();
    let mut all: Vec<Listening> = tables
        .iter()
        .flat_map(|t| parse(t, uid))
        .filter(|l| l.port != own)
        .collect();
    all.sort();
    all.dedup();
    Ok(Json(all))
}

/// The listening sockets of one `/proc/net/tcp{,6}` table.
fn parse(table: &str, uid: u32) -> Vec<Listening> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
            if fields.get(3)? != &"0A" {
                return None;
            }
            let (addr, port) = fields.get(1)?.split_once(':')?;
            Some(Listening {
                port: u16::from_str_radix(port, 16).ok()?,
                address: address(addr)?,
                mine: fields.get(7)?.parse::<u32>().ok()? == uid,
            })
        })
        .collect()
}

/// A `/proc/net` address (little-endian 32-bit words in hex) as text.
fn address(hex: &str) -> Option<String> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).map(u32::from_be))
        .collect::<Result<_, _>>()
        .ok()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => {
            let octets: [u8; 16] = bytes.try_into().ok()?;
            let v6 = std::net::Ipv6Addr::from(octets);
            Some(v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_sockets_are_read_from_the_proc_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 3 1 0 10 0";
        assert_eq!(
            parse(v4, 1000),
            [
                Listening {
                    port: 8080,
                    address: "127.0.0.1".into(),
                    mine: true
                },
                Listening {
                    port: 22,
                    address: "0.0.0.0".into(),
                    mine: false
                },
            ]
        );
        let v6 = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 4
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 5";
        assert_eq!(
            parse(v6, 1000),
            [
                Listening {
                    port: 8081,
                    address: "::1".into(),
                    mine: true
                },
                Listening {
                    port: 80,
                    address: "::".into(),
                    mine: true
                },
            ]
        );
    }
}
