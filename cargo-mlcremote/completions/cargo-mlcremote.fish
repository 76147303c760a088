# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_cargo_mlcremote_global_optspecs
    string join \n h/help V/version
end

function __fish_cargo_mlcremote_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_cargo_mlcremote_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_cargo_mlcremote_using_subcommand
    set -l cmd (__fish_cargo_mlcremote_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -s V -l version -d 'Print version'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "deploy" -d 'Install, start and verify the server on one or more hosts'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "status" -d 'Installed version, running or not, pid, port, start method, /health'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "logs" -d 'Show the server log'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "stop" -d 'Stop the server (SIGTERM, then SIGKILL)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "restart" -d 'Stop and start the server, then verify /health'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "uninstall" -d 'Stop the server and remove what deploy installed'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "tunnel" -d 'Forward a local port to the server over SSH and print its URL; Ctrl-C ends'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "forward" -d 'Forward a local port to any port on the host\'s loopback (a dev server) and print its URL; Ctrl-C ends'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "probe" -d 'What the host is: os, arch, target, shell, home, free disk, tools'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "config" -d 'The ssh options used for a host, from ~/.ssh/config, without connecting (like `ssh -G`)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "ui" -d 'The browser UI on 127.0.0.1: pick a host, install, then files and terminals'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "open" -d 'The browser UI on one host\'s workspace, deploying first if no healthy server runs'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "completions" -d 'Print the shell completion script for `cargo-mlcremote` (the release archives carry them in completions/)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l hosts-file -d 'A file with one host per line (blank lines and `#` comments ignored)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -s j -l jobs -d 'Hosts handled at once' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l artifact -d 'A .tar.gz, .zip or bare binary to deploy' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l dist -d 'A `cargo xtask dist` output folder [default: dist]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l build -d 'Build the server from the source tree we run in: here (cross-compiling), on the host (Docker, cargo, or a rustup bootstrap you agree to; else here), or auto (on the host when it has Docker or cargo, else here)' -r -f -a "local\t'Here, cross-compiling for the host\'s target with `cargo xtask dist`\'s builder choice'
remote\t'On the host, from the uploaded source bundle: Docker, cargo, or a toolchain bootstrapped with consent; failing all three, here'
auto\t'On the host when it has Docker or cargo, else here'"
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l release -d 'Deploy a published release: download its archive, verified against SHA256SUMS' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l repo -d 'GitHub OWNER/NAME of the release [default: `repo` in [workspace.metadata.mlcremote], else the repository this client was built from]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l base-url -d 'Where releases are downloaded from: a mirror laid out like GitHub works [default: $MLCREMOTE_RELEASE_BASE_URL, else https://github.com]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l download-on -d 'Who downloads a release: the host itself when it has curl or wget and reaches the URL (auto), only the host, or this machine, which then uploads the binary' -r -f -a "auto\t'The host, when it has curl or wget and reaches the URL; else this machine'
host\t'The host; a host that cannot is an error'
client\t'This machine, which then uploads the binary'"
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l server-port -d 'Port the server listens on, on the host\'s loopback (0 = any free)' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l root -d 'The folder the server\'s file API serves, on the host (`~/…` or relative: under the home folder) [default: the one installed, else the home folder; `~` goes back to it]. Kept in install.json; changing it restarts the server' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l start-method -d 'How to keep the server running: auto tries systemd (user unit), setsid, nohup, tmux, screen' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l health-timeout -d 'How long to wait for /health to say ok' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l yes -d 'Consent to what `--build remote` asks first (installing a Rust toolchain on the host)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l force -d 'Reinstall and restart even when the installed server is identical and healthy'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l dry-run -d 'Print the plan for each host and change nothing (with --json: the plan as JSON)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -l json -d 'Print one JSON object per host on stdout'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -s q -l quiet -d 'Print only the result'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -l hosts-file -d 'A file with one host per line (blank lines and `#` comments ignored)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -s j -l jobs -d 'Hosts handled at once' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -l json -d 'Print JSON on stdout (one object per host)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand status" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -s n -l lines -d 'How many lines from the end' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -s f -l follow -d 'Keep printing new lines until Ctrl-C'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand logs" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -l hosts-file -d 'A file with one host per line (blank lines and `#` comments ignored)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -s j -l jobs -d 'Hosts handled at once' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand stop" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l hosts-file -d 'A file with one host per line (blank lines and `#` comments ignored)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -s j -l jobs -d 'Hosts handled at once' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l start-method -d 'How to start it again [default: the method it was started with]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l health-timeout -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand restart" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable)' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -l hosts-file -d 'A file with one host per line (blank lines and `#` comments ignored)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -s j -l jobs -d 'Hosts handled at once' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -l yes -d 'Do not ask (required when not at a terminal)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand uninstall" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -l local-port -d 'Local port to listen on (127.0.0.1); 0 picks a free one' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand tunnel" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -l local-port -d 'Local port to listen on (127.0.0.1); 0 picks a free one' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand forward" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -l json -d 'Print JSON on stdout'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand probe" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand config" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand config" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand config" -s i -l identity -d 'Private key file (as deploy\'s -i): listed first' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand config" -l known-hosts -d 'known_hosts file (as deploy\'s --known-hosts)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand config" -l connect-timeout -d 'As deploy\'s --connect-timeout' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand config" -l accept-new-host-key -d 'As deploy\'s --accept-new-host-key'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand config" -l json -d 'Print JSON on stdout'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand config" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -l port -d 'Port on 127.0.0.1 [default: any free port]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -l no-browser -d 'Print the launch URL but do not open a browser'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand ui" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -l host -d '`[user@]host[:port]` or a Host alias from ~/.ssh/config' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -l port -d 'Port on 127.0.0.1 [default: any free port]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -s i -l identity -d 'Private key file to log in with (repeatable); tried before the ssh config\'s and ~/.ssh/id_*' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -l known-hosts -d 'known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts]' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -l install-dir -d 'Where the server lives on the host' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -l connect-timeout -d 'Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s]' -r
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -s F -l ssh-config -d 'ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file)' -r -F
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -l no-browser -d 'Print the launch URL but do not open a browser'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -l accept-new-host-key -d 'Trust and record a host key never seen before (a changed key is always refused)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -l password-stdin -d 'Read a password from the first line of stdin (for password and keyboard-interactive)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -s v -l verbose -d 'Show each remote command with its timing, and details of failures'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand open" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand completions" -s h -l help -d 'Print help'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "deploy" -d 'Install, start and verify the server on one or more hosts'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "status" -d 'Installed version, running or not, pid, port, start method, /health'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "logs" -d 'Show the server log'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "stop" -d 'Stop the server (SIGTERM, then SIGKILL)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "restart" -d 'Stop and start the server, then verify /health'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "uninstall" -d 'Stop the server and remove what deploy installed'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "tunnel" -d 'Forward a local port to the server over SSH and print its URL; Ctrl-C ends'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "forward" -d 'Forward a local port to any port on the host\'s loopback (a dev server) and print its URL; Ctrl-C ends'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "probe" -d 'What the host is: os, arch, target, shell, home, free disk, tools'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "config" -d 'The ssh options used for a host, from ~/.ssh/config, without connecting (like `ssh -G`)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "ui" -d 'The browser UI on 127.0.0.1: pick a host, install, then files and terminals'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "open" -d 'The browser UI on one host\'s workspace, deploying first if no healthy server runs'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "completions" -d 'Print the shell completion script for `cargo-mlcremote` (the release archives carry them in completions/)'
complete -c cargo-mlcremote -n "__fish_cargo_mlcremote_using_subcommand help; and not __fish_seen_subcommand_from deploy status logs stop restart uninstall tunnel forward probe config ui open completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
