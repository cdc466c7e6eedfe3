# The peers this home is paired with (for send --to).
function __sslx_peers
    sslx --json pairs 2>/dev/null | string match -r -g -a '"peer":"([^"]+)"'
end

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
complete -c sslx -n "__fish_sslx_needs_command" -f -a "vsu" -d 'Verified setup with a CDS: send the open request, (--confirm) confirm the assembled key, or (--renew) renew the CDS key before it expires'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "assemble-key" -d 'Put the CDS key together from reply A, reply B (email) and the PIN'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "standing" -d 'Show a participant\'s public standing at the CDS (last VSU, channels, key life)'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "status" -d 'Where this machine stands: its identity, its CDS and CDS key (with its expiry), its pairs with each peer\'s standing at the CDS, what is listening (recv, listen, pair --accept) and bundles queued'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "pairs" -d 'The peers this machine is paired with (courier), and since when'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "unpair" -d 'Forget the pairing with PEER: its pair key is removed here (PEER keeps its own copy)'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "login" -d 'Log in at a gateway for remote execution: the credentials cache it hands back is kept here'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "logout" -d 'Forget the credentials cache of sslx login'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "exec" -d 'Run a command on a managed host through the gateway of sslx login'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "listen" -d 'Take calls: each caller\'s stream goes to stdout, or to a command (--exec)'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "dial" -d 'Call a peer: stdin goes to the peer, the peer\'s output to stdout'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "handshake" -d 'Run the handshake alone and print the peer, Key-ID, cipher, forward secrecy and resumption'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "pair" -d 'Pair with a peer once: a key exchange checked by a 5-character string read over the phone'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "send" -d 'Send files and directories to a paired peer (live through the CDS relay, or as a bundle file)'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "recv" -d 'Receive files: take calls from paired peers, open a bundle file (--in), or fetch the mailbox'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "log" -d 'Show the send log and the receive log (the inbox)'
complete -c sslx -n "__fish_sslx_needs_command" -f -a "token" -d 'Common session tokens: mint one for another node, verify one from another node'
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
complete -c sslx -n "__fish_sslx_using_subcommand vsu" -l renew -d 'Renew the CDS key before it expires, proved with the current one (no admin, email or PIN)'
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
complete -c sslx -n "__fish_sslx_using_subcommand status" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand status" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand status" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand status" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand status" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand status" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand status" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand pairs" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand pairs" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand pairs" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand pairs" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand pairs" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand pairs" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand pairs" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand unpair" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand unpair" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand unpair" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand unpair" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand unpair" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand unpair" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand unpair" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand login" -l gateway -d 'The gateway\'s URL (https://HOST:PORT)' -r
complete -c sslx -n "__fish_sslx_using_subcommand login" -l gateway-fingerprint -d 'Accept only the gateway certificate with this fingerprint (sha256:HEX, as sslx-gateway prints it)' -r
complete -c sslx -n "__fish_sslx_using_subcommand login" -l password-file -d 'Read the password from FILE (its content, trimmed) instead of SSLX_PASSWORD or the prompt' -r
complete -c sslx -n "__fish_sslx_using_subcommand login" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand login" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand login" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand login" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand login" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand login" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand login" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand logout" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand logout" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand logout" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand logout" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand logout" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand logout" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand logout" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand exec" -l gateway -d 'Through this gateway instead of the one of sslx login (any gateway of the KDC takes the login)' -r
complete -c sslx -n "__fish_sslx_using_subcommand exec" -l gateway-fingerprint -d 'With --gateway: accept only its certificate with this fingerprint' -r
complete -c sslx -n "__fish_sslx_using_subcommand exec" -l as -d 'Run as this local user (the host\'s ACL must allow it; default: the ACL\'s)' -r
complete -c sslx -n "__fish_sslx_using_subcommand exec" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand exec" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand exec" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand exec" -s n -l no-stdin -d 'Give the command no stdin (else stdin goes to it when it is not a terminal)'
complete -c sslx -n "__fish_sslx_using_subcommand exec" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand exec" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand exec" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand exec" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l bind -d 'Listen directly on ADDR (e.g. 127.0.0.1:7460, or port 0 for any free port)' -r
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l exec -d 'Serve each call with this command (sh -c): the caller\'s stream is its stdin, its stdout goes back' -r
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l max-calls -d 'Calls served at the same time' -r
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l allow -d 'Take calls from this participant (repeatable)' -r
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l allowed-peers -d 'Take calls from the participants named in FILE (one a line, # comments), read at each call' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l service -d 'The service, through the CDS relay: a participant may run several listeners, one per service, beside `sslx recv` (files) and `sslx pair --accept` (pair)' -r
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l once -d 'Take one call, then exit with its status'
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l allow-any -d 'Take calls from any participant enrolled at the CDS (also with --exec)'
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l no-fs -d 'No X25519 ephemeral keys: the seed\'s plain mode (no forward secrecy)'
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l no-resume -d 'Always make a full handshake (do not resume a cached session)'
complete -c sslx -n "__fish_sslx_using_subcommand listen" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand listen" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand listen" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand listen" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand dial" -l service -d 'The service, through the CDS relay: a participant may run several listeners, one per service, beside `sslx recv` (files) and `sslx pair --accept` (pair)' -r
complete -c sslx -n "__fish_sslx_using_subcommand dial" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand dial" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand dial" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand dial" -s y -l yes -d 'Accept a listener this home has not met at HOST:PORT, and remember it'
complete -c sslx -n "__fish_sslx_using_subcommand dial" -l no-fs -d 'No X25519 ephemeral keys: the seed\'s plain mode (no forward secrecy)'
complete -c sslx -n "__fish_sslx_using_subcommand dial" -l no-resume -d 'Always make a full handshake (do not resume a cached session)'
complete -c sslx -n "__fish_sslx_using_subcommand dial" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand dial" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand dial" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand dial" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -l service -d 'The service, through the CDS relay: a participant may run several listeners, one per service, beside `sslx recv` (files) and `sslx pair --accept` (pair)' -r
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -s y -l yes -d 'Accept a listener this home has not met at HOST:PORT, and remember it'
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -l no-fs -d 'No X25519 ephemeral keys: the seed\'s plain mode (no forward secrecy)'
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -l no-resume -d 'Always make a full handshake (do not resume a cached session)'
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand handshake" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l bind -d 'The acceptor: listen directly on ADDR instead of the CDS relay' -r
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l sas -d 'The string the other side shows: the acceptor is given the initiator\'s (else SSLX_SAS, --sas-file, a prompt); an initiator with --yes is given the acceptor\'s' -r
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l sas-file -d 'Read that string from FILE (- for stdin, read once the exchange is done)' -r
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l accept -d 'Wait for a peer\'s pairing call (on hook at the CDS, or on --bind ADDR)'
complete -c sslx -n "__fish_sslx_using_subcommand pair" -s y -l yes -d 'The initiator: do not ask whether the peer confirmed; instead compare the string the acceptor shows (--sas or --sas-file) with this side\'s. Also accepts a listener not met before'
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l qr -d 'Also show the string as a QR code on stderr (the default on a terminal: a phone\'s camera reads it out)'
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l no-qr -d 'No QR code, even on a terminal'
complete -c sslx -n "__fish_sslx_using_subcommand pair" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand pair" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand pair" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand pair" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand send" -l to -d 'The paired peer; again for more (--to bob --to carol: one pass over the data, one bundle each can open, live to those listening, the mailbox for the rest)' -r -f -a "(__sslx_peers)"
complete -c sslx -n "__fish_sslx_using_subcommand send" -l to-file -d 'Recipients from FILE (- for stdin), one name a line; blank lines and # comments skipped' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand send" -l suite -d 'Cipher suite of the bundle' -r -f -a "aead\t'ChaCha20-Poly1305 or AES-256-GCM in 64 KiB records (default)'
3des\t'The seed\'s triple-DES EDE in CBC mode, HMAC-SHA-256 per record'"
complete -c sslx -n "__fish_sslx_using_subcommand send" -l out -d 'Write the bundle to FILE (- for stdout) instead of sending it live' -r
complete -c sslx -n "__fish_sslx_using_subcommand send" -l direct -d 'Connect to PEER at HOST:PORT (a `sslx recv --bind`) instead of through the relay' -r
complete -c sslx -n "__fish_sslx_using_subcommand send" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand send" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand send" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand send" -l armor -d 'With --out: an armored bundle (base64 between BEGIN/END lines, for email or a paste); `sslx recv --in` tells it apart by itself'
complete -c sslx -n "__fish_sslx_using_subcommand send" -l no-mailbox -d 'Never leave the bundle in the CDS mailbox: fail when the peer is not listening'
complete -c sslx -n "__fish_sslx_using_subcommand send" -l no-compress -d 'Do not compress (zstd is skipped by itself where it does not pay)'
complete -c sslx -n "__fish_sslx_using_subcommand send" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand send" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sslx -n "__fish_sslx_using_subcommand send" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l into -d 'Where received files go (created if missing); strftime fields (%F, %Y, %m, %H…; %% for %) are filled in at each arrival [default: ., or into in sslx.toml]' -r
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l on-conflict -d 'What to do with a received name that already exists: fail (refuse; a live transfer then waits in the mailbox), rename (report.1.pdf), overwrite, or skip [default: fail]' -r -f -a "fail\t''
rename\t''
overwrite\t''
skip\t''"
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l exec-after -d 'After each arrival, run CMD (sh -c) with the placed paths as its arguments ("$@") and SSLX_PEER, SSLX_BUNDLE, SSLX_INTO, SSLX_VIA, SSLX_FILES, SSLX_BYTES set' -r
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l in -d 'Open a bundle from FILE (- for stdin) instead of taking calls' -r
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l bind -d 'Take calls directly on ADDR instead of on hook at the CDS' -r
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l max-transfers -d 'Transfers received at the same time (without --once) [default: 4]' -r
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l once -d 'One transfer, then exit with its status'
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l from-mailbox -d 'Fetch and open what waits in the CDS mailbox, then exit'
complete -c sslx -n "__fish_sslx_using_subcommand recv" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand recv" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand recv" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand recv" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand log" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand log" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand log" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand log" -l sent -d 'Only the send log'
complete -c sslx -n "__fish_sslx_using_subcommand log" -l received -d 'Only the receive log (the inbox)'
complete -c sslx -n "__fish_sslx_using_subcommand log" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand log" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand log" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand log" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -f -a "mint" -d 'Mint a signed (and, with --to, sealed) session token; print it (or a URL, or a cookie)'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -f -a "verify" -d 'Verify a token against a keyring of trusted nodes; print its fields'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -f -a "resolve" -d 'Verify a token, then fetch its `@NODE.ID` values from their nodes (cached by version)'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -f -a "serve" -d 'Answer other nodes\' out-of-band queries for the data this node\'s tokens refer to'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -f -a "store" -d 'Set out-of-band values (`Fred.Telephone=(345) 555-1212`); prints the new data version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and not __fish_seen_subcommand_from mint verify resolve serve store help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l key -d 'The minting node\'s identity file (signs; `sslx keygen --name N --out FILE`)' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l node -d 'The minting node\'s id (0-65535), unique among cooperating nodes' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l to -d 'Seal the session data to this node: a file with its keyring line `NODE_ID sslx-pub1…`' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l ttl -d 'How long the session stays valid (30s, 15m, 24h, 7d)' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l user -d 'The User-ID field' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l email -d 'The Email-Address field' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l phone -d 'The Telephone field (or @NODE.ID)' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l address -d 'The Postal-Address field (or @NODE.ID)' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l data-version -d 'The Version field: the version of this node\'s out-of-band data (`sslx token store` prints it)' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l field -d 'A field of the session data (repeatable): User-ID=fred, Telephone=@1.Fred.Telephone' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l fields -d 'More fields from FILE (- for stdin): `Key: Value` lines, or one JSON object' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l max-size -d 'Refuse a token longer than this many characters' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l url -d 'Print a migration URL: BASE with the token as its `sslx_token` query parameter' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l cookie -d 'Print a Set-Cookie header carrying the token'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from mint" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l keyring -d 'Trusted nodes: `NODE_ID PUBLIC-KEY-LINE` a line' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l key -d 'This node\'s identity file, to open tokens sealed to it' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l node -d 'This node\'s id' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l skew -d 'Clock skew allowed on Created and Expires' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l max-size -d 'Refuse a token longer than this many characters (as minting does)' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from verify" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l keyring -d 'Trusted nodes: `NODE_ID PUBLIC-KEY-LINE [HOST:PORT]` a line' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l key -d 'This node\'s identity file (authenticates the queries; opens sealed tokens and answers)' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l node -d 'This node\'s id' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l skew -d 'Clock skew allowed on Created and Expires' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l max-size -d 'Refuse a token longer than this many characters (as minting does)' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from resolve" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l key -d 'This node\'s identity file (the key its tokens are signed with)' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l node -d 'This node\'s id' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l keyring -d 'The nodes allowed to ask' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l listen -d 'Where to listen' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l db -d 'The out-of-band data (SQLite)' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l skew -d 'Clock skew allowed on the Created and Expires of the tokens queries come with' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from serve" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from store" -l db -d 'The out-of-band data (SQLite)' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from store" -l home -d 'The sslx home: identity, CDS key, state [default: $XDG_CONFIG_HOME/sslx]' -r -F
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from store" -l cds -d 'The CDS protocol address [default: the one remembered at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from store" -l cds-http -d 'The CDS\'s public HTTP address [default: the one the CDS announced at enrollment]' -r
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from store" -l json -d 'Machine-readable output: one JSON object on stdout'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from store" -s q -l quiet -d 'No messages on stderr, only errors'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from store" -s h -l help -d 'Print help'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from store" -s V -l version -d 'Print version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "mint" -d 'Mint a signed (and, with --to, sealed) session token; print it (or a URL, or a cookie)'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Verify a token against a keyring of trusted nodes; print its fields'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "resolve" -d 'Verify a token, then fetch its `@NODE.ID` values from their nodes (cached by version)'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Answer other nodes\' out-of-band queries for the data this node\'s tokens refer to'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "store" -d 'Set out-of-band values (`Fred.Telephone=(345) 555-1212`); prints the new data version'
complete -c sslx -n "__fish_sslx_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "keygen" -d 'Make this machine\'s identity (X25519 + Ed25519) and print its public key line'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "vsu" -d 'Verified setup with a CDS: send the open request, (--confirm) confirm the assembled key, or (--renew) renew the CDS key before it expires'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "assemble-key" -d 'Put the CDS key together from reply A, reply B (email) and the PIN'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "standing" -d 'Show a participant\'s public standing at the CDS (last VSU, channels, key life)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "status" -d 'Where this machine stands: its identity, its CDS and CDS key (with its expiry), its pairs with each peer\'s standing at the CDS, what is listening (recv, listen, pair --accept) and bundles queued'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "pairs" -d 'The peers this machine is paired with (courier), and since when'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "unpair" -d 'Forget the pairing with PEER: its pair key is removed here (PEER keeps its own copy)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "login" -d 'Log in at a gateway for remote execution: the credentials cache it hands back is kept here'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "logout" -d 'Forget the credentials cache of sslx login'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "exec" -d 'Run a command on a managed host through the gateway of sslx login'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "listen" -d 'Take calls: each caller\'s stream goes to stdout, or to a command (--exec)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "dial" -d 'Call a peer: stdin goes to the peer, the peer\'s output to stdout'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "handshake" -d 'Run the handshake alone and print the peer, Key-ID, cipher, forward secrecy and resumption'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "pair" -d 'Pair with a peer once: a key exchange checked by a 5-character string read over the phone'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "send" -d 'Send files and directories to a paired peer (live through the CDS relay, or as a bundle file)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "recv" -d 'Receive files: take calls from paired peers, open a bundle file (--in), or fetch the mailbox'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "log" -d 'Show the send log and the receive log (the inbox)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "token" -d 'Common session tokens: mint one for another node, verify one from another node'
complete -c sslx -n "__fish_sslx_using_subcommand help; and not __fish_seen_subcommand_from keygen vsu assemble-key standing status pairs unpair login logout exec listen dial handshake pair send recv log token help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "mint" -d 'Mint a signed (and, with --to, sealed) session token; print it (or a URL, or a cookie)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "verify" -d 'Verify a token against a keyring of trusted nodes; print its fields'
complete -c sslx -n "__fish_sslx_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "resolve" -d 'Verify a token, then fetch its `@NODE.ID` values from their nodes (cached by version)'
complete -c sslx -n "__fish_sslx_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "serve" -d 'Answer other nodes\' out-of-band queries for the data this node\'s tokens refer to'
complete -c sslx -n "__fish_sslx_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "store" -d 'Set out-of-band values (`Fred.Telephone=(345) 555-1212`); prints the new data version'
