# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sslx_global_optspecs
    string join \n home= cds= cds-http= json q/quiet h/help V/version
end

function __fish_sslx_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sslx_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sslx_using_subcommand
    set -l cmd (__fish_sslx_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sslx -n "__fish_sslx_needs_command" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_needs_command" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_needs_command" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_needs_command" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_needs_command" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_needs_command" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_needs_command" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "keygen" -d 'Make this machine\'s identity (X25519 + Ed25519) and print its public key line'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "vsu" -d 'Verified setup with a CDS: send the open request, or (--confirm) confirm the assembled key'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "assemble-key" -d 'Put the CDS key together from reply A, reply B (email) and the PIN'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "standing" -d 'Show a participant\'s public standing at the CDS (last VSU, channels, key life)'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -l name -d 'This machine\'s name at the CDS (a-z, 0-9, \'.\', \'_\', \'-\')' -r
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -l out -d 'Write the secret identity here instead of the home (\'-\' for stdout)' -r
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -l force -d 'Replace an existing identity (the old one is kept as identity.key.old)'
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand keygen" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l email -d 'Email address for reply B' -r
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l oob -d 'Out-of-band channel for the PIN (reply C), as a URI' -r
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l out -d 'Also write reply A to FILE (\'-\' for stdout)' -r
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l prove-with -d 'Re-enroll a registered name under a new key: the old identity file signs the request too' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l confirm -d 'Send the confirmation wrapped in the assembled CDS key'
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l reply-b -d 'Reply B: the email (whole, or just its armored block), a file or \'-\' for stdin' -r
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l pin -d 'The PIN from the out-of-band channel (better: SSLX_PIN, --pin-file or the prompt)' -r
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l pin-file -d 'Read the PIN from a file' -r
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l reply-a -d 'Reply A from a file (written by `sslx vsu --out`) instead of the pending request' -r
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l print -d 'Print the CDS key line on stdout instead of installing it'
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand assemble-key" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand standing" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand standing" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand standing" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand standing" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand standing" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand standing" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand standing" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing help" -f -a "keygen" -d 'Make this machine\'s identity (X25519 + Ed25519) and print its public key line'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing help" -f -a "vsu" -d 'Verified setup with a CDS: send the open request, or (--confirm) confirm the assembled key'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing help" -f -a "assemble-key" -d 'Put the CDS key together from reply A, reply B (email) and the PIN'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing help" -f -a "standing" -d 'Show a participant\'s public standing at the CDS (last VSU, channels, key life)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
