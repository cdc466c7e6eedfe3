complete -c sslx-gateway -l listen -d 'Where to take HTTPS connections' -r
complete -c sslx-gateway -l cds -d 'The CDS (its KDC) to log users in at' -r
complete -c sslx-gateway -l keytab -d 'The gateway\'s key table (sslx-cds gateway add NAME --keytab FILE)' -r -F
complete -c sslx-gateway -l cert -d 'The certificate chain, PEM' -r -F
complete -c sslx-gateway -l key -d 'The certificate\'s private key, PEM (0600)' -r -F
complete -c sslx-gateway -l logins-at-once -d 'Logins that may derive keys at once (each takes the user\'s Argon2id memory)' -r
complete -c sslx-gateway -l per-source -d 'Connections at once from one address' -r
complete -c sslx-gateway -l min-argon2-memory -d 'The least Argon2id memory (KiB) accepted from the KDC for a user\'s key' -r
complete -c sslx-gateway -l host -d 'Where a host\'s sslx-execd listens (repeatable); a host not named is reached at NAME:7460' -r
complete -c sslx-gateway -l web-key -d 'The key of the web face\'s sessions (64 hex digits, 0600; made when missing). Every gateway behind one name needs the same file. Without it (and without --dev) there is no web face' -r -F
complete -c sslx-gateway -l web-max-output -d 'Bytes of a command\'s output a web page shows; past them the command is stopped' -r
complete -c sslx-gateway -l dev -d 'A self-signed certificate made at start (for trying things out)'
complete -c sslx-gateway -s h -l help -d 'Print help'
complete -c sslx-gateway -s V -l version -d 'Print version'
