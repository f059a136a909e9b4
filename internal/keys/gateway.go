package keys

// Users and the HTTP gateway (packages users and gateway). Cross-slot; no
// multi-key script touches them:
//
//	sq:users          set    every user name
//	sq:user:{U}       hash   user U: pw (argon2id PHC string, absent when
//	                         none), rights (space separated), ct (ms)
//	sq:user:{U}:tok   hash   token IDs of U -> SHA-256 of the token (hex)
//	sq:token:{H}      hash   the token whose SHA-256 is H: user, id, label, ct
//	sq:gwj:{J}        hash   job J submitted through the gateway: owner,
//	                         conn (the connection user); expires with the job
//
// The connection user that opened a session through the gateway is the
// attribute "opener" of its record (sessiontable.Table.SetAttr), so it ends
// with the session. User names never contain '{' or '}'.

// Users is the set of every user name.
const Users = Prefix + "users"

// User is the record of user u.
func User(u string) string { return Prefix + "user:{" + u + "}" }

// UserTokens maps the token IDs of user u to their hashes.
func UserTokens(u string) string { return User(u) + ":tok" }

// Token is the record of the token whose SHA-256 (hex) is h.
func Token(h string) string { return Prefix + "token:{" + h + "}" }

// GatewayJob records who submitted job j through the gateway.
func GatewayJob(j string) string { return Prefix + "gwj:{" + j + "}" }
