# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sslx_cds_global_optspecs
    string join \n h/help V/version
end

function __fish_sslx_cds_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sslx_cds_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sslx_cds_using_subcommand
    set -l cmd (__fish_sslx_cds_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -s V -l version -d 'Print version'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -f -a "serve" -d 'Run the CDS: the protocol listener and the public HTTP side'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -f -a "calls" -d 'The call log (billing tape): tracking id, caller, callee, start, end, bytes each way, result'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -f -a "release" -d 'Forget a participant\'s registration, so its name can be enrolled again by any key'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -f -a "migrate" -d 'Bring the database\'s schema to this sslx\'s version (serve does it at start)'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -f -a "principal" -d 'The KDC\'s users (seed 003, remote execution): add, passwd, disable, enable, del, list'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -f -a "host" -d 'The KDC\'s hosts, each running sslx-execd with its key table: add, rotate'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -f -a "gateway" -d 'The KDC\'s gateways, each running sslx-gateway with its key table: add, rotate'
complete -c sslx-cds -n "__fish_sslx_cds_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l listen -d 'Protocol listener address' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l http -d 'HTTP listener address (public standing)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l public-http -d 'The HTTP base URL announced to participants [default: http://<the --http address>]' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require] that several instances share [default: sslx-cds.db, or in the temp dir with --dev]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l key-file -d 'The key file that seals every CDS key in the database (made 0600 on first start; keep it apart from database backups) [default: DB.key beside a SQLite file; PostgreSQL: required, the same file on every instance]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l db-ca -d 'Root certificates (PEM) for the PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l db-pool -d 'PostgreSQL connections this instance keeps open at most' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l advertise -d 'Where participants reach this instance, HOST:PORT: a ring for a callee hooked at another instance names it, and the callee answers there [default: the --listen address]' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l announce -d 'The protocol addresses participants remember at enrollment (reply A announces them; several instances: all of them, comma-separated or the flag again) [default: none: a participant keeps the address it enrolled through]' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l smtp -d 'SMTP server for email: smtp://[user:pass@]host[:port][?tls=required|opportunistic|none] or smtps://…' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l smtp-ca -d 'Trust these root certificates (PEM) for the SMTP server, besides the built-in web roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l outbox -d 'Write email as .eml files to this folder instead of sending it' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l oob-dir -d 'Write every out-of-band message to this folder instead of sending it' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l mail-from -d 'Sender address of the CDS\'s email' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l request-ttl -d 'Seconds an open request waits for its confirmation' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l max-attempts -d 'Failed confirmations allowed per request' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l key-life-days -d 'Days a confirmed CDS key stays valid' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l pin-digits -d 'Hex digits in a PIN (4-6)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l rate-source -d 'Open requests (each one sends an email and a PIN) allowed from one source address (N/PERIOD, or off)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l rate-email -d 'Open requests allowed for one email address (N/PERIOD, or off)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l rate-oob -d 'Open requests allowed for one out-of-band destination (N/PERIOD, or off)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l rate-open-total -d 'Open requests allowed from everyone together (N/PERIOD, or off)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l rate-phone-total -d 'Texts and voice calls (sms:, voice:) sent for everyone together: they cost money (N/PERIOD, or off)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l phone-prefixes -d 'Country codes that sms: and voice: numbers may have, comma-separated, e.g. +1,+44 [default: any]' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l max-waiting-per-source -d 'Connections from one source address (an IPv6 one by its /64) that may wait to send their request' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l max-working -d 'Requests worked on at once (lowered to fit the open-file limit); a quarter may be open requests' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l streams-per-participant -d 'Calls, deposits and collections one participant may have open at once' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l splice-idle -d 'Seconds a relayed session may pass no byte either way before it is cut' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l hook-keepalive -d 'Seconds between keepalives down an idle hook (a callee that hears nothing for three of them hooks again; 0: none)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l oob-exec -d 'Site command for exec: and other site channels (message on stdin, destination in $SSLX_OOB_TO)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l mailbox-dir -d 'Where bundles wait for recipients who are not listening; with PostgreSQL, a directory every instance mounts at this same path [default: DB.mailbox beside a SQLite file]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l mailbox-quota -d 'Bytes that may wait for one recipient' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l mailbox-sender-quota -d 'Bytes that may wait for one recipient from one sender' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l mailbox-sender-total -d 'Bytes one sender may have waiting, for all its recipients together' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l mailbox-total -d 'Bytes that may wait in the whole mailbox' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l mailbox-min-free -d 'Bytes the mailbox\'s filesystem must keep free: deposits that would leave less are refused' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l mailbox-days -d 'Days a bundle waits before it is dropped' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l twilio-url -d 'Base URL of a Twilio-compatible SMS/voice API' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l config -d 'Settings from FILE (TOML: serve\'s flags without their --, e.g. listen = "0.0.0.0:7450", health-detail = true); flags and environment variables given win' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l log-file -d 'Log to FILE (appended, a time on each line) instead of stderr; SIGHUP reopens it (logrotate)' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l drain-timeout -d 'On SIGTERM or SIGINT: stop taking connections, end the hooks (callees come back on their own), and give relayed calls and deposits under way this long to finish' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l dev -d 'Throw-away CDS: temp state, email and out-of-band messages written to folders'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l allow-http-webhooks -d 'Accept plain http:// webhooks for the PIN (default: https:// only)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l allow-private-webhooks -d 'Let webhooks reach loopback, private, link-local and other non-public addresses'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l health-detail -d '/v1/health also says how many participants are on hook (off: it only says the CDS is up)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -l no-source-check -d 'Accept calls from any address (default: only from the address a participant enrolled from)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand serve" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand calls" -l since -d 'Only calls that started at or after TIME: Unix seconds, RFC 3339, or an age (90m, 24h, 7d)' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand calls" -l format -d 'csv (with a header line) or json (one object a line)' -r -f -a "csv\t''
json\t''"
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand calls" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand calls" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand calls" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand calls" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand release" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand release" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand release" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand release" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand migrate" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand migrate" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand migrate" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand migrate" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and not __fish_seen_subcommand_from add passwd disable enable del list help" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and not __fish_seen_subcommand_from add passwd disable enable del list help" -f -a "add" -d 'Add a user; the password comes from SSLX_PASSWORD, --password-file or a prompt (twice)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and not __fish_seen_subcommand_from add passwd disable enable del list help" -f -a "passwd" -d 'Set a user\'s password (a new salt; the old password stops working at once)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and not __fish_seen_subcommand_from add passwd disable enable del list help" -f -a "disable" -d 'Refuse a principal at once: logins, and tickets for its logins made before'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and not __fish_seen_subcommand_from add passwd disable enable del list help" -f -a "enable" -d 'Let a disabled principal in again'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and not __fish_seen_subcommand_from add passwd disable enable del list help" -f -a "del" -d 'Delete a principal (a user, a host or a gateway)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and not __fish_seen_subcommand_from add passwd disable enable del list help" -f -a "list" -d 'List the principals: name, kind, key version, state, created'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and not __fish_seen_subcommand_from add passwd disable enable del list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -l password-file -d 'Read the password from FILE (its content, trimmed) instead of SSLX_PASSWORD or the prompt' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -l argon2-memory -d 'Argon2id memory, KiB' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -l argon2-passes -d 'Argon2id passes' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -l argon2-lanes -d 'Argon2id lanes' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from passwd" -l password-file -d 'Read the password from FILE (its content, trimmed) instead of SSLX_PASSWORD or the prompt' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from passwd" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from passwd" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from passwd" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from passwd" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from disable" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from disable" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from disable" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from disable" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from disable" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from enable" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from enable" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from enable" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from enable" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from enable" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from del" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from del" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from del" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from del" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from del" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from list" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from list" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from list" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from list" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a user; the password comes from SSLX_PASSWORD, --password-file or a prompt (twice)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Set a user\'s password (a new salt; the old password stops working at once)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from help" -f -a "disable" -d 'Refuse a principal at once: logins, and tickets for its logins made before'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from help" -f -a "enable" -d 'Let a disabled principal in again'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from help" -f -a "del" -d 'Delete a principal (a user, a host or a gateway)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the principals: name, kind, key version, state, created'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand principal; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and not __fish_seen_subcommand_from add rotate help" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and not __fish_seen_subcommand_from add rotate help" -f -a "add" -d 'Add the principal with a random key, written to its key table (0600)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and not __fish_seen_subcommand_from add rotate help" -f -a "rotate" -d 'Give the principal a new key; the previous one stays in use for --grace (both go in the key table)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and not __fish_seen_subcommand_from add rotate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from add" -l keytab -d 'Where to write the key table' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from add" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from add" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from add" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from add" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from rotate" -l keytab -d 'Where to write the key table (both keys)' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from rotate" -l grace -d 'How long the previous key stays valid: seconds, or 90m, 24h, 7d' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from rotate" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from rotate" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from rotate" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from rotate" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add the principal with a random key, written to its key table (0600)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Give the principal a new key; the previous one stays in use for --grace (both go in the key table)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand host; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and not __fish_seen_subcommand_from add rotate help" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and not __fish_seen_subcommand_from add rotate help" -f -a "add" -d 'Add the principal with a random key, written to its key table (0600)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and not __fish_seen_subcommand_from add rotate help" -f -a "rotate" -d 'Give the principal a new key; the previous one stays in use for --grace (both go in the key table)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and not __fish_seen_subcommand_from add rotate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from add" -l keytab -d 'Where to write the key table' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from add" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from add" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from add" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from add" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from rotate" -l keytab -d 'Where to write the key table (both keys)' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from rotate" -l grace -d 'How long the previous key stays valid: seconds, or 90m, 24h, 7d' -r
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from rotate" -l db -d 'The CDS database: a SQLite file, or postgres://USER@HOST[:PORT]/DB[?sslmode=require]' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from rotate" -l key-file -d 'The key file that seals the database\'s keys [default: DB.key beside a SQLite file; PostgreSQL: required, the same file as the instances\']' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from rotate" -l db-ca -d 'Root certificates (PEM) for a PostgreSQL server\'s TLS certificate, besides the web\'s roots' -r -F
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from rotate" -l json -d 'What was done as one JSON object on stdout (list: one a line), instead of a line on stderr'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add the principal with a random key, written to its key table (0600)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Give the principal a new key; the previous one stays in use for --grace (both go in the key table)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand gateway; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and not __fish_seen_subcommand_from serve calls release migrate principal host gateway help" -f -a "serve" -d 'Run the CDS: the protocol listener and the public HTTP side'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and not __fish_seen_subcommand_from serve calls release migrate principal host gateway help" -f -a "calls" -d 'The call log (billing tape): tracking id, caller, callee, start, end, bytes each way, result'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and not __fish_seen_subcommand_from serve calls release migrate principal host gateway help" -f -a "release" -d 'Forget a participant\'s registration, so its name can be enrolled again by any key'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and not __fish_seen_subcommand_from serve calls release migrate principal host gateway help" -f -a "migrate" -d 'Bring the database\'s schema to this sslx\'s version (serve does it at start)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and not __fish_seen_subcommand_from serve calls release migrate principal host gateway help" -f -a "principal" -d 'The KDC\'s users (seed 003, remote execution): add, passwd, disable, enable, del, list'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and not __fish_seen_subcommand_from serve calls release migrate principal host gateway help" -f -a "host" -d 'The KDC\'s hosts, each running sslx-execd with its key table: add, rotate'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and not __fish_seen_subcommand_from serve calls release migrate principal host gateway help" -f -a "gateway" -d 'The KDC\'s gateways, each running sslx-gateway with its key table: add, rotate'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and not __fish_seen_subcommand_from serve calls release migrate principal host gateway help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from principal" -f -a "add" -d 'Add a user; the password comes from SSLX_PASSWORD, --password-file or a prompt (twice)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from principal" -f -a "passwd" -d 'Set a user\'s password (a new salt; the old password stops working at once)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from principal" -f -a "disable" -d 'Refuse a principal at once: logins, and tickets for its logins made before'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from principal" -f -a "enable" -d 'Let a disabled principal in again'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from principal" -f -a "del" -d 'Delete a principal (a user, a host or a gateway)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from principal" -f -a "list" -d 'List the principals: name, kind, key version, state, created'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "add" -d 'Add the principal with a random key, written to its key table (0600)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from host" -f -a "rotate" -d 'Give the principal a new key; the previous one stays in use for --grace (both go in the key table)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from gateway" -f -a "add" -d 'Add the principal with a random key, written to its key table (0600)'
complete -c sslx-cds -n "__fish_sslx_cds_using_subcommand help; and __fish_seen_subcommand_from gateway" -f -a "rotate" -d 'Give the principal a new key; the previous one stays in use for --grace (both go in the key table)'
