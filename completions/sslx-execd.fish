# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sslx_execd_global_optspecs
    string join \n listen= inetd keytab= acl= max-at-once= timeout= max-output= audit-file= audit-required syslog= syslog-facility= syslog-max-line= h/help V/version
end

function __fish_sslx_execd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sslx_execd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sslx_execd_using_subcommand
    set -l cmd (__fish_sslx_execd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l listen -d 'Where to take the gateways\' connections' -r
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l keytab -d 'The host\'s key table (sslx-cds host add NAME --keytab FILE)' -r -F
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l acl -d 'The ACL file: who may run what, as whom' -r -F
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l max-at-once -d 'Commands that may run at once (connections in their handshake count apart: 8 per source)' -r
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l timeout -d 'Seconds a command may run before it is killed (0: no limit)' -r
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l max-output -d 'Bytes of output (stdout and stderr) a command may give before it is killed (0: no limit)' -r
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l audit-file -d 'The hash-chained audit file (JSON lines, created 0600; sslx-execd audit verify FILE)' -r -F
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l syslog -d 'Where audit lines go: local (/dev/log), unix:PATH, udp:HOST:PORT, tcp:HOST:PORT, or none' -r
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l syslog-facility -d 'The syslog facility of the audit lines (auth, authpriv, daemon, local0..local7, ...)' -r
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l syslog-max-line -d 'The longest syslog line sent, its header included (480 or more; the command is cut first)' -r
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l inetd -d 'Serve the one connection on stdin (a socket from inetd or systemd\'s Accept=yes), then exit'
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -l audit-required -d 'Refuse a command when the audit file does not take its record (a full disk, say)'
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -s h -l help -d 'Print help'
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -s V -l version -d 'Print version'
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -f -a "audit" -d 'The audit trail: verify a hash-chained audit file'
complete -c sslx-execd -n "__fish_sslx_execd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -s h -l help -d 'Print help'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -f -a "verify" -d 'Check that no line of an audit file was changed, removed or inserted'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand audit; and not __fish_seen_subcommand_from verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand audit; and __fish_seen_subcommand_from verify" -l json -d 'One JSON object: {"records": N, "last_hash": HEX}'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Check that no line of an audit file was changed, removed or inserted'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand help; and not __fish_seen_subcommand_from audit help" -f -a "audit" -d 'The audit trail: verify a hash-chained audit file'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand help; and not __fish_seen_subcommand_from audit help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-execd -n "__fish_sslx_execd_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Check that no line of an audit file was changed, removed or inserted'
