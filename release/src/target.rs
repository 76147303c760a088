//! Targets (Rust triples), the mapping from a host's `uname -s -m` (SPEC §2), and the
//! check that a binary really is built for its target.

use object::{Architecture, BinaryFormat, Object};

/// A build target the release knows about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub triple: &'static str,
    /// As in the manifest: `linux` or `macos`.
    pub os: &'static str,
    /// As in the manifest: `x86_64`, `aarch64` or `armv7`.
    pub arch: &'static str,
}

/// Every target mlcremote can be built for.
pub const TARGETS: &[Target] = &[
    Target {
        triple: "x86_64-unknown-linux-musl",
        os: "linux",
        arch: "x86_64",
    },
    Target {
        triple: "x86_64-unknown-linux-gnu",
        os: "linux",
        arch: "x86_64",
    },
    Target {
        triple: "aarch64-unknown-linux-musl",
        os: "linux",
        arch: "aarch64",
    },
    Target {
        triple: "aarch64-unknown-linux-gnu",
        os: "linux",
        arch: "aarch64",
    },
    Target {
        triple: "x86_64-apple-darwin",
        os: "macos",
        arch: "x86_64",
    },
    Target {
        triple: "aarch64-apple-darwin",
        os: "macos",
        arch: "aarch64",
    },
    Target {
        triple: "armv7-unknown-linux-musleabihf",
        os: "linux",
        arch: "armv7",
    },
];

/// The default release set: the first six of [`TARGETS`].
pub fn default_targets() -> &'static [Target] {
    &TARGETS[..6]
}

/// Where the client runs (SPEC §3 `--client`): the release targets, then Windows GNU
/// (the cross-built stand-in for the MSVC build made on a Windows runner) and Linux GNU
/// (a client built the usual way on Linux).
pub const CLIENT_TARGETS: &[Target] = &[
    Target {
        triple: "x86_64-pc-windows-msvc",
        os: "windows",
        arch: "x86_64",
    },
    Target {
        triple: "x86_64-apple-darwin",
        os: "macos",
        arch: "x86_64",
    },
    Target {
        triple: "aarch64-apple-darwin",
        os: "macos",
        arch: "aarch64",
    },
    Target {
        triple: "x86_64-unknown-linux-musl",
        os: "linux",
        arch: "x86_64",
    },
    Target {
        triple: "aarch64-unknown-linux-musl",
        os: "linux",
        arch: "aarch64",
    },
    Target {
        triple: "x86_64-pc-windows-gnu",
        os: "windows",
        arch: "x86_64",
    },
    Target {
        triple: "x86_64-unknown-linux-gnu",
        os: "linux",
        arch: "x86_64",
    },
];

/// The client's release set: the first five of [`CLIENT_TARGETS`].
pub fn default_client_targets() -> &'static [Target] {
    &CLIENT_TARGETS[..5]
}

impl Target {
    /// Look a triple up in [`TARGETS`].
    pub fn get(triple: &str) -> Option<Target> {
        TARGETS.iter().copied().find(|t| t.triple == triple)
    }

    /// Look a triple up in [`CLIENT_TARGETS`].
    pub fn client(triple: &str) -> Option<Target> {
        CLIENT_TARGETS.iter().copied().find(|t| t.triple == triple)
    }

    /// Whether binaries for it end in `.exe`.
    pub fn is_windows(&self) -> bool {
        self.os == "windows"
    }

    /// Refuse a binary whose format or architecture does not match this target, so a
    /// builder that silently fell back to the host architecture cannot ship.
    pub fn check_binary(&self, bytes: &[u8]) -> Result<(), WrongBinary> {
        let file = object::File::parse(bytes).map_err(|e| WrongBinary::NotExecutable(e.to_string()))?;
        let (format, arch) = (file.format(), file.architecture());
        let want_format = match self.os {
            "macos" => BinaryFormat::MachO,
            "windows" => BinaryFormat::Pe,
            _ => BinaryFormat::Elf,
        };
        let want_arch = match self.arch {
            "x86_64" => Architecture::X86_64,
            "aarch64" => Architecture::Aarch64,
            _ => Architecture::Arm,
        };
        if format == want_format && arch == want_arch {
            Ok(())
        } else {
            Err(WrongBinary::Mismatch {
                found: format!("{format:?} {arch:?}"),
                target: self.triple,
                wanted: format!("{want_format:?} {want_arch:?}"),
            })
        }
    }
}

/// Why a binary is not one for a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrongBinary {
    #[error("not an executable ({0})")]
    NotExecutable(String),
    #[error("it is a {found} binary, but {target} needs {wanted}")]
    Mismatch {
        found: String,
        target: &'static str,
        wanted: String,
    },
}

/// The server version a binary for `triple` carries, read from the version line the
/// server keeps in itself (`mlcremote-version 0.1.0 (x86_64-unknown-linux-musl, commit
/// abc1234)`) without running it.
pub fn embedded_version(bytes: &[u8], triple: &str) -> Option<String> {
    let (version, marked) = version_mark(bytes)?;
    (marked == triple).then_some(version)
}

/// The version and target an mlcremote server binary carries in its version mark
/// (`\0mlcremote-version <version> (<triple>, commit <c>)\0`); `None` for any other file.
pub fn version_mark(bytes: &[u8]) -> Option<(String, String)> {
    const MARK: &[u8] = b"\0mlcremote-version ";
    let at = bytes.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let rest = &bytes[at..bytes.len().min(at + 200)];
    let end = rest.iter().position(|b| *b == 0)?;
    let line = std::str::from_utf8(&rest[..end]).ok()?;
    let (version, after) = line.split_once(' ')?;
    let triple = after.strip_prefix('(')?.split_once(", commit ")?.0;
    Some((version.to_string(), triple.to_string()))
}

/// Whether an ELF binary is statically linked (no `PT_INTERP`): how a bare musl
/// binary is told from a glibc one when its name does not say.
pub fn is_static_elf(bytes: &[u8]) -> bool {
    object::File::parse(bytes).is_ok_and(|f| f.format() == BinaryFormat::Elf && f.section_by_name(".interp").is_none())
}

/// Whether a binary holds x86 machine code (32 or 64 bits): what xz's x86 filter helps.
pub fn is_x86_code(bytes: &[u8]) -> bool {
    object::File::parse(bytes).is_ok_and(|f| {
        matches!(
            f.architecture(),
            Architecture::X86_64 | Architecture::X86_64_X32 | Architecture::I386
        )
    })
}

/// The triple of the machine this code was built for, if it is one of [`TARGETS`]'s
/// families (used as the default `cargo xtask dist` target).
pub fn host_triple() -> &'static str {
    env!("MLCREMOTE_HOST_TRIPLE")
}

/// A remote host's OS and CPU as read from `uname -s -m`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
}

impl Platform {
    /// Parse `uname -s -m` output. Only the last non-empty line counts, so noise from
    /// shell start-up files before it changes nothing.
    pub fn from_uname(output: &str) -> Result<Platform, UnsupportedPlatform> {
        let line = output
            .lines()
            .map(str::trim)
            .rev()
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(os), Some(machine)) = (words.next(), words.next()) else {
            return Err(UnsupportedPlatform { seen: line.to_string() });
        };
        let os = match os {
            "Linux" => "linux",
            "Darwin" => "macos",
            _ => return Err(unsupported(line)),
        };
        let arch = match machine {
            "x86_64" | "amd64" => "x86_64",
            "aarch64" | "arm64" => "aarch64",
            m if m.starts_with("armv8") => "aarch64",
            "armv7l" if os == "linux" => "armv7",
            _ => return Err(unsupported(line)),
        };
        Ok(Platform {
            os: os.into(),
            arch: arch.into(),
        })
    }

    /// Targets that run here, best first: musl (static, any glibc) before gnu.
    pub fn targets(&self) -> Vec<Target> {
        TARGETS
            .iter()
            .copied()
            .filter(|t| t.os == self.os && t.arch == self.arch)
            .collect()
    }
}

fn unsupported(seen: &str) -> UnsupportedPlatform {
    UnsupportedPlatform { seen: seen.to_string() }
}

/// A `uname -s -m` this project has no build for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported platform `{seen}`; supported: Linux x86_64/amd64, Linux aarch64/arm64/armv8*, Linux armv7l, \
     Darwin x86_64, Darwin arm64"
)]
pub struct UnsupportedPlatform {
    /// The line of `uname -s -m` output that was read.
    pub seen: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triples(uname: &str) -> Vec<&'static str> {
        Platform::from_uname(uname)
            .unwrap()
            .targets()
            .iter()
            .map(|t| t.triple)
            .collect()
    }

    #[test]
    fn maps_real_uname_outputs() {
        let x86 = ["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"];
        let arm = ["aarch64-unknown-linux-musl", "aarch64-unknown-linux-gnu"];
        for (uname, want) in [
            ("Linux x86_64\n", &x86[..]),
            ("Linux amd64", &x86[..]),
            ("Linux aarch64\n", &arm[..]),
            ("Linux arm64", &arm[..]),
            ("Linux armv8l", &arm[..]),
            ("Linux armv8b", &arm[..]),
            ("Darwin x86_64\n", &["x86_64-apple-darwin"][..]),
            ("Darwin arm64\n", &["aarch64-apple-darwin"][..]),
            ("Linux armv7l", &["armv7-unknown-linux-musleabihf"][..]),
        ] {
            assert_eq!(triples(uname), want, "{uname:?}");
        }
    }

    #[test]
    fn reads_only_the_last_line() {
        let noisy = "Welcome to the cluster!\nLinux i686 is not what we run\nLinux x86_64\n\n";
        assert_eq!(triples(noisy)[0], "x86_64-unknown-linux-musl");
    }

    #[test]
    fn names_what_it_saw_when_unsupported() {
        for uname in [
            "Linux i686",
            "FreeBSD amd64",
            "Linux mips64",
            "Darwin armv7l",
            "",
            "Linux",
        ] {
            let err = Platform::from_uname(uname).unwrap_err().to_string();
            assert!(err.contains(uname.trim()), "{err}");
        }
        assert!(
            Platform::from_uname("SunOS i86pc")
                .unwrap_err()
                .to_string()
                .contains("supported: Linux x86_64")
        );
    }

    #[test]
    fn reads_the_version_line_out_of_a_binary() {
        let bytes = b"\0junk0.1.0\0mlcremote-version 0.12.3-rc.1 (aarch64-unknown-linux-musl, commit abc1234)\0more";
        assert_eq!(
            embedded_version(bytes, "aarch64-unknown-linux-musl").as_deref(),
            Some("0.12.3-rc.1")
        );
        assert_eq!(embedded_version(bytes, "x86_64-unknown-linux-musl"), None);
        assert_eq!(embedded_version(b"0.1.0 (t, commit y)", "t"), None);
    }

    #[test]
    fn default_set_is_the_six_release_targets() {
        let set: Vec<_> = default_targets().iter().map(|t| t.triple).collect();
        assert_eq!(set.len(), 6);
        assert!(!set.contains(&"armv7-unknown-linux-musleabihf"));
    }

    #[test]
    fn checks_binaries_against_their_target() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let host = Target::get(host_triple()).unwrap();
        host.check_binary(&me).unwrap();
        let other = TARGETS.iter().find(|t| t.arch != host.arch).unwrap();
        let err = other.check_binary(&me).unwrap_err().to_string();
        assert!(err.contains(other.triple), "{err}");
        assert!(
            Target::get("x86_64-unknown-linux-musl")
                .unwrap()
                .check_binary(b"#!/bin/sh\n")
                .is_err()
        );
    }
}
