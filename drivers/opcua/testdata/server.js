// An OPC UA server for the driver's interoperability tests, on node-opcua
// (a third-party implementation). It serves one variable of every scalar
// type with a known value under Objects/Plant (namespace 1, string node ids
// "ns=1;s=<Name>"), a counter, points with Uncertain and Bad status codes,
// security None and Basic256Sha256 (Sign, SignAndEncrypt), and anonymous
// and username logins.
//
// Usage: node server.js <port> <pki-dir> [trusted-client-cert.der] [user:password]
// It prints "ready <port>" once listening, then takes commands on stdin:
//   remove <Name>     delete a variable
//   close-sessions    close every session (as a session timeout does)
//   set <Name> <v> [<DataType> [<source time, ms since 1970>]]
//                     set a variable (a Double unless the type is given;
//                     a String keeps the text), at the given source time
//                     or now
//   big <Name> <n>    set a String variable to a text of n characters
//   sessions          print "done sessions <n>": the sessions the server
//                     holds, active or awaiting reactivation
//   drop-subscriptions
//                     end every session's subscriptions, keeping the
//                     sessions (a server that dropped them: it answers the
//                     client's publish requests with BadNoSubscription)
//   slow-reads <ms>   answer each Read that many ms late (0: at once)
//   publish-hints     print "done publish-hints <h> <k>": the least timeout
//                     hint of the publish requests received (ms; 0: none
//                     yet), and the longest keep-alive period of the
//                     subscriptions held (ms). node-opcua answers a publish
//                     request held past its hint with BadTimeout.
const path = require("path");
const fs = require("fs");
const {
  OPCUAServer, OPCUACertificateManager, Variant, DataType, StatusCodes,
  SecurityPolicy, MessageSecurityMode, VariantArrayType,
} = require("node-opcua");

const [port, pki, trusted, login] = process.argv.slice(2);
// Environment: EIPGW_UA_LIMIT=n limits Read, TranslateBrowsePathsToNodeIds
// and CreateMonitoredItems calls to n operations (node-opcua refuses a
// larger one with BadTooManyOperations); EIPGW_UA_HIDE_LIMITS=1 publishes
// 0 (no limit) under ServerCapabilities/OperationLimits all the same, as a
// server that enforces limits it does not publish; EIPGW_UA_MANY=n adds
// the Double variables Many0..Many<n-1> under Objects/Plant/Many, each
// valued at its index; EIPGW_UA_NO_TRANSLATE=1 answers every
// TranslateBrowsePathsToNodeIds with BadServiceUnsupported, as a server
// without that service does; EIPGW_UA_MAX_SESSIONS=n lets the server hold
// at most n sessions (it answers BadTooManySessions past that).
const limit = Number(process.env.EIPGW_UA_LIMIT || 0);
const many = Number(process.env.EIPGW_UA_MANY || 0);
const maxSessions = Number(process.env.EIPGW_UA_MAX_SESSIONS || 0);

async function main() {
  const serverCM = new OPCUACertificateManager({ rootFolder: path.join(pki, "server"), automaticallyAcceptUnknownCertificate: false });
  await serverCM.initialize();
  if (trusted) {
    await serverCM.trustCertificate(fs.readFileSync(trusted));
  }
  const userIdentity = login ? login.split(":") : null;
  const server = new OPCUAServer({
    port: Number(port),
    hostname: "127.0.0.1",
    serverCertificateManager: serverCM,
    certificateFile: path.join(pki, "server_cert.pem"),
    privateKeyFile: path.join(pki, "server_key.pem"),
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: !userIdentity,
    userManager: userIdentity ? { isValidUser: (u, p) => u === userIdentity[0] && p === userIdentity[1] } : undefined,
    serverInfo: { applicationUri: "urn:eipgw:test-server" },
    serverCapabilities: {
      ...(limit > 0 ? {
        operationLimits: { maxNodesPerRead: limit, maxNodesPerTranslateBrowsePathsToNodeIds: limit, maxMonitoredItemsPerCall: limit },
      } : {}),
      ...(maxSessions > 0 ? { maxSessions } : {}),
    },
  });
  await server.initialize();
  if (process.env.EIPGW_UA_NO_TRANSLATE) {
    server._on_TranslateBrowsePathsToNodeIdsRequest = function (message, channel) {
      this._apply_on_SessionObject(message.request.constructor, message, channel, (_session, _sendResponse, sendError) => {
        sendError(StatusCodes.BadServiceUnsupported);
      });
    };
  }
  if (limit > 0 && process.env.EIPGW_UA_HIDE_LIMITS) {
    const published = { 11705: "read", 11712: "translate", 11714: "monitor" };
    const hide = process.env.EIPGW_UA_HIDE_LIMITS.split(",");
    for (const id of Object.keys(published).filter((id) => hide.includes("all") || hide.includes(published[id]))) {
      const v = server.engine.addressSpace.findNode("ns=0;i=" + id);
      v.bindVariable({ get: () => new Variant({ dataType: DataType.UInt32, value: 0 }) }, true);
    }
  }
  let slowReads = 0;
  const read = server._on_ReadRequest.bind(server);
  server._on_ReadRequest = function (message, channel) {
    if (slowReads > 0) {
      setTimeout(() => read(message, channel), slowReads);
    } else {
      read(message, channel);
    }
  };
  let leastHint = 0;
  const publish = server._on_PublishRequest.bind(server);
  server._on_PublishRequest = function (message, channel) {
    const hint = message.request.requestHeader.timeoutHint;
    if (hint > 0 && (leastHint === 0 || hint < leastHint)) {
      leastHint = hint;
    }
    publish(message, channel);
  };
  const ns = server.engine.addressSpace.getOwnNamespace();
  const plant = ns.addFolder(server.engine.addressSpace.rootFolder.objects, { browseName: "Plant" });
  const vars = {};
  const add = (name, dataType, value, statusCode) => {
    const v = ns.addVariable({
      componentOf: plant, browseName: name, nodeId: "s=" + name, dataType,
      minimumSamplingInterval: 50,
    });
    v.setValueFromSource(new Variant({ dataType: DataType[dataType], arrayType: VariantArrayType.Scalar, value }), statusCode || StatusCodes.Good,
      new Date(Date.UTC(2026, 10, 26, 18, 0, 1, 250)));
    vars[name] = v;
    return v;
  };
  add("Boolean", "Boolean", true);
  add("SByte", "SByte", -128);
  add("Byte", "Byte", 255);
  add("Int16", "Int16", -32768);
  add("UInt16", "UInt16", 65535);
  add("Int32", "Int32", -2147483648);
  add("UInt32", "UInt32", 4294967295);
  add("Int64", "Int64", [0x80000000, 0x00000001]);       // -9223372036854775807
  add("UInt64", "UInt64", [0xFFFFFFFF, 0xFFFFFFFF]);     // 18446744073709551615
  add("Float", "Float", 28.4);
  add("Double", "Double", 0.1);
  add("String", "String", "-42.125");
  add("Text", "String", "running");
  add("DateTime", "DateTime", new Date(Date.UTC(2026, 10, 26, 18, 0, 1, 123)));
  add("LastUsable", "Double", 7.5, StatusCodes.UncertainLastUsableValue);
  add("SensorFailure", "Double", 0, StatusCodes.BadSensorFailure);
  add("Power", "Double", 28.4);
  add("Numeric", "String", "100");                      // a number held as text
  vars.Any = ns.addVariable({ componentOf: plant, browseName: "Any", nodeId: "s=Any", dataType: "BaseDataType", minimumSamplingInterval: 50 });
  vars.Any.setValueFromSource(new Variant({ dataType: DataType.Int32, value: 7 }), StatusCodes.Good, new Date());
  add("Big", "String", "1");
  if (many > 0) {
    const folder = ns.addFolder(plant, { browseName: "Many" });
    for (let i = 0; i < many; i++) {
      const v = ns.addVariable({ componentOf: folder, browseName: "Many" + i, nodeId: "s=Many" + i, dataType: "Double", minimumSamplingInterval: 50 });
      v.setValueFromSource(new Variant({ dataType: DataType.Double, value: i }), StatusCodes.Good, new Date());
    }
  }
  let n = 0;
  const counter = add("Counter", "UInt32", 0);
  setInterval(() => {
    n++;
    counter.setValueFromSource(new Variant({ dataType: DataType.UInt32, value: n }), StatusCodes.Good, new Date());
  }, 100);

  await server.start();
  process.stdout.write("ready " + server.endpoints[0].port + "\n");

  let buf = "";
  process.stdin.on("data", (chunk) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      command(line.split(/\s+/));
    }
  });
  process.stdin.on("end", async () => { await server.shutdown(0); process.exit(0); });

  function command(args) {
    switch (args[0]) {
      case "remove":
        ns.deleteNode(vars[args[1]]);
        delete vars[args[1]];
        break;
      case "close-sessions":
        for (const s of server.engine.getSessions ? server.engine.getSessions() : Object.values(server.engine._sessions || {})) {
          server.engine.closeSession(s.authenticationToken, true, "Terminated");
        }
        break;
      case "set": {
        const type = args[3] || "Double";
        const value = type === "String" ? args[2] : Number(args[2]);
        const at = args[4] ? new Date(Number(args[4])) : new Date();
        vars[args[1]].setValueFromSource(new Variant({ dataType: DataType[type], value }), StatusCodes.Good, at);
        break;
      }
      case "big":
        vars[args[1]].setValueFromSource(new Variant({ dataType: DataType.String, value: "1".repeat(Number(args[2])) }), StatusCodes.Good, new Date());
        break;
      case "drop-subscriptions":
        for (const s of server.engine.getSessions()) {
          for (const sub of Object.values(s.publishEngine._subscriptions)) {
            sub.terminate();
          }
        }
        break;
      case "slow-reads":
        slowReads = Number(args[1]);
        break;
      case "publish-hints": {
        let keepAlive = 0;
        for (const s of server.engine.getSessions()) {
          for (const sub of Object.values(s.publishEngine._subscriptions)) {
            keepAlive = Math.max(keepAlive, sub.maxKeepAliveCount * sub.publishingInterval);
          }
        }
        process.stdout.write("done publish-hints " + leastHint + " " + keepAlive + "\n");
        return;
      }
      case "sessions":
        process.stdout.write("done sessions " + server.engine.currentSessionCount + "\n");
        return;
      default:
        process.stderr.write("unknown command " + args[0] + "\n");
        return;
    }
    process.stdout.write("done " + args[0] + "\n");
  }
}

main().catch((err) => { process.stderr.write(String(err && err.stack || err) + "\n"); process.exit(1); });
