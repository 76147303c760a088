
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'cargo-mlcremote' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'cargo-mlcremote'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'cargo-mlcremote' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Install, start and verify the server on one or more hosts')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Installed version, running or not, pid, port, start method, /health')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show the server log')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the server (SIGTERM, then SIGKILL)')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Stop and start the server, then verify /health')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Stop the server and remove what deploy installed')
            [CompletionResult]::new('tunnel', 'tunnel', [CompletionResultType]::ParameterValue, 'Forward a local port to the server over SSH and print its URL; Ctrl-C ends')
            [CompletionResult]::new('forward', 'forward', [CompletionResultType]::ParameterValue, 'Forward a local port to any port on the host''s loopback (a dev server) and print its URL; Ctrl-C ends')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'What the host is: os, arch, target, shell, home, free disk, tools')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'The ssh options used for a host, from ~/.ssh/config, without connecting (like `ssh -G`)')
            [CompletionResult]::new('ui', 'ui', [CompletionResultType]::ParameterValue, 'The browser UI on 127.0.0.1: pick a host, install, then files and terminals')
            [CompletionResult]::new('open', 'open', [CompletionResultType]::ParameterValue, 'The browser UI on one host''s workspace, deploying first if no healthy server runs')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the shell completion script for `cargo-mlcremote` (the release archives carry them in completions/)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cargo-mlcremote;deploy' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)')
            [CompletionResult]::new('--hosts-file', '--hosts-file', [CompletionResultType]::ParameterName, 'A file with one host per line (blank lines and `#` comments ignored)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('--artifact', '--artifact', [CompletionResultType]::ParameterName, 'A .tar.gz, .zip or bare binary to deploy')
            [CompletionResult]::new('--dist', '--dist', [CompletionResultType]::ParameterName, 'A `cargo xtask dist` output folder [default: dist]')
            [CompletionResult]::new('--build', '--build', [CompletionResultType]::ParameterName, 'Build the server from the source tree we run in: here (cross-compiling), on the host (Docker, cargo, or a rustup bootstrap you agree to; else here), or auto (on the host when it has Docker or cargo, else here)')
            [CompletionResult]::new('--release', '--release', [CompletionResultType]::ParameterName, 'Deploy a published release: download its archive, verified against SHA256SUMS')
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'GitHub OWNER/NAME of the release [default: `repo` in [workspace.metadata.mlcremote], else the repository this client was built from]')
            [CompletionResult]::new('--base-url', '--base-url', [CompletionResultType]::ParameterName, 'Where releases are downloaded from: a mirror laid out like GitHub works [default: $MLCREMOTE_RELEASE_BASE_URL, else https://github.com]')
            [CompletionResult]::new('--download-on', '--download-on', [CompletionResultType]::ParameterName, 'Who downloads a release: the host itself when it has curl or wget and reaches the URL (auto), only the host, or this machine, which then uploads the binary')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--server-port', '--server-port', [CompletionResultType]::ParameterName, 'Port the server listens on, on the host''s loopback (0 = any free)')
            [CompletionResult]::new('--root', '--root', [CompletionResultType]::ParameterName, 'The folder the server''s file API serves, on the host (`~/…` or relative: under the home folder) [default: the one installed, else the home folder; `~` goes back to it]. Kept in install.json; changing it restarts the server')
            [CompletionResult]::new('--start-method', '--start-method', [CompletionResultType]::ParameterName, 'How to keep the server running: auto tries systemd (user unit), setsid, nohup, tmux, screen')
            [CompletionResult]::new('--health-timeout', '--health-timeout', [CompletionResultType]::ParameterName, 'How long to wait for /health to say ok')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Consent to what `--build remote` asks first (installing a Rust toolchain on the host)')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Reinstall and restart even when the installed server is identical and healthy')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan for each host and change nothing (with --json: the plan as JSON)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per host on stdout')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the result')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the result')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'cargo-mlcremote;status' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)')
            [CompletionResult]::new('--hosts-file', '--hosts-file', [CompletionResultType]::ParameterName, 'A file with one host per line (blank lines and `#` comments ignored)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout (one object per host)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;logs' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'How many lines from the end')
            [CompletionResult]::new('--lines', '--lines', [CompletionResultType]::ParameterName, 'How many lines from the end')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing new lines until Ctrl-C')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing new lines until Ctrl-C')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;stop' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)')
            [CompletionResult]::new('--hosts-file', '--hosts-file', [CompletionResultType]::ParameterName, 'A file with one host per line (blank lines and `#` comments ignored)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;restart' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)')
            [CompletionResult]::new('--hosts-file', '--hosts-file', [CompletionResultType]::ParameterName, 'A file with one host per line (blank lines and `#` comments ignored)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--start-method', '--start-method', [CompletionResultType]::ParameterName, 'How to start it again [default: the method it was started with]')
            [CompletionResult]::new('--health-timeout', '--health-timeout', [CompletionResultType]::ParameterName, 'health-timeout')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;uninstall' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)')
            [CompletionResult]::new('--hosts-file', '--hosts-file', [CompletionResultType]::ParameterName, 'A file with one host per line (blank lines and `#` comments ignored)')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Hosts handled at once')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask (required when not at a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;tunnel' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--local-port', '--local-port', [CompletionResultType]::ParameterName, 'Local port to listen on (127.0.0.1); 0 picks a free one')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;forward' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--local-port', '--local-port', [CompletionResultType]::ParameterName, 'Local port to listen on (127.0.0.1); 0 picks a free one')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;probe' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;config' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file (as deploy''s -i): listed first')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file (as deploy''s -i): listed first')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file (as deploy''s --known-hosts)')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'As deploy''s --connect-timeout')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'As deploy''s --accept-new-host-key')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;ui' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port on 127.0.0.1 [default: any free port]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Print the launch URL but do not open a browser')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;open' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, '`[user@]host[:port]` or a Host alias from ~/.ssh/config')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port on 127.0.0.1 [default: any free port]')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'Private key file to log in with (repeatable); tried before the ssh config''s and ~/.ssh/id_*')
            [CompletionResult]::new('--known-hosts', '--known-hosts', [CompletionResultType]::ParameterName, 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]')
            [CompletionResult]::new('--install-dir', '--install-dir', [CompletionResultType]::ParameterName, 'Where the server lives on the host')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--ssh-config', '--ssh-config', [CompletionResultType]::ParameterName, 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)')
            [CompletionResult]::new('--no-browser', '--no-browser', [CompletionResultType]::ParameterName, 'Print the launch URL but do not open a browser')
            [CompletionResult]::new('--accept-new-host-key', '--accept-new-host-key', [CompletionResultType]::ParameterName, 'Trust and record a host key never seen before (a changed key is always refused)')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read a password from the first line of stdin (for password and keyboard-interactive)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show each remote command with its timing, and details of failures')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'cargo-mlcremote;help' {
            [CompletionResult]::new('deploy', 'deploy', [CompletionResultType]::ParameterValue, 'Install, start and verify the server on one or more hosts')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Installed version, running or not, pid, port, start method, /health')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show the server log')
            [CompletionResult]::new('stop', 'stop', [CompletionResultType]::ParameterValue, 'Stop the server (SIGTERM, then SIGKILL)')
            [CompletionResult]::new('restart', 'restart', [CompletionResultType]::ParameterValue, 'Stop and start the server, then verify /health')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Stop the server and remove what deploy installed')
            [CompletionResult]::new('tunnel', 'tunnel', [CompletionResultType]::ParameterValue, 'Forward a local port to the server over SSH and print its URL; Ctrl-C ends')
            [CompletionResult]::new('forward', 'forward', [CompletionResultType]::ParameterValue, 'Forward a local port to any port on the host''s loopback (a dev server) and print its URL; Ctrl-C ends')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'What the host is: os, arch, target, shell, home, free disk, tools')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'The ssh options used for a host, from ~/.ssh/config, without connecting (like `ssh -G`)')
            [CompletionResult]::new('ui', 'ui', [CompletionResultType]::ParameterValue, 'The browser UI on 127.0.0.1: pick a host, install, then files and terminals')
            [CompletionResult]::new('open', 'open', [CompletionResultType]::ParameterValue, 'The browser UI on one host''s workspace, deploying first if no healthy server runs')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print the shell completion script for `cargo-mlcremote` (the release archives carry them in completions/)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'cargo-mlcremote;help;deploy' {
            break
        }
        'cargo-mlcremote;help;status' {
            break
        }
        'cargo-mlcremote;help;logs' {
            break
        }
        'cargo-mlcremote;help;stop' {
            break
        }
        'cargo-mlcremote;help;restart' {
            break
        }
        'cargo-mlcremote;help;uninstall' {
            break
        }
        'cargo-mlcremote;help;tunnel' {
            break
        }
        'cargo-mlcremote;help;forward' {
            break
        }
        'cargo-mlcremote;help;probe' {
            break
        }
        'cargo-mlcremote;help;config' {
            break
        }
        'cargo-mlcremote;help;ui' {
            break
        }
        'cargo-mlcremote;help;open' {
            break
        }
        'cargo-mlcremote;help;completions' {
            break
        }
        'cargo-mlcremote;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
