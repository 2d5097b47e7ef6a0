// The wire protocol as the browser knows it: read from the generated JSON Schema
// (web/protocol.schema.json, produced from signaling/protocol/messages.py), so the message
// types, their fields and the limits are never copied by hand into the client.

const SCHEMA_URL = "/static/protocol.schema.json";

export class ProtocolMismatch extends Error {
  constructor(message, field = null) {
    super(message);
    this.name = "ProtocolMismatch";
    this.field = field;
  }
}

export class Protocol {
  constructor(schema) {
    this.schema = schema;
    this.constants = schema.constants || {};
    this.version = this.constants.PROTOCOL_VERSION;
    this.defs = schema.$defs || {};
    this.clientTypes = this._index("ClientMessage");
    this.serverTypes = this._index("ServerMessage");
    this.staffTypes = new Set(this.constants.STAFF_MESSAGE_TYPES || []);
  }

  static async load(url = SCHEMA_URL) {
    const response = await fetch(url, { cache: "no-cache" });
    if (!response.ok) throw new Error(`the protocol schema could not be loaded (${response.status})`);
    return new Protocol(await response.json());
  }

  /** Map of message type -> its JSON Schema definition, for one side of the protocol. */
  _index(unionName) {
    const byType = new Map();
    for (const ref of this.defs[unionName]?.anyOf || []) {
      const def = this._resolve(ref);
      const tag = def?.properties?.type?.enum?.[0];
      if (tag) byType.set(tag, def);
    }
    return byType;
  }

  _resolve(schema) {
    if (schema && schema.$ref) return this.defs[schema.$ref.split("/").pop()];
    return schema;
  }

  limit(name, fallback) {
    const value = this.constants[name];
    return typeof value === "number" ? value : fallback;
  }

  /** Throw ProtocolMismatch unless `message` is a valid client message per the schema. */
  check(message) {
    const def = this.clientTypes.get(message?.type);
    if (!def) throw new ProtocolMismatch(`the server does not accept \`${message?.type}\``, "type");
    const props = def.properties || {};
    for (const name of def.required || []) {
      if (message[name] === undefined) throw new ProtocolMismatch(`\`${name}\` is missing`, name);
    }
    for (const [name, value] of Object.entries(message)) {
      if (!(name in props)) {
        throw new ProtocolMismatch(`\`${message.type}\` has no field \`${name}\``, name);
      }
      if (value === undefined) continue;
      const problem = this._problem(props[name], value);
      if (problem) throw new ProtocolMismatch(`\`${name}\` ${problem}`, name);
    }
  }

  /** A short reason why `value` does not fit `schema`, or null when it fits. */
  _problem(schema, value) {
    schema = this._resolve(schema);
    if (!schema) return null;
    if (schema.anyOf) {
      const reasons = schema.anyOf.map((s) => this._problem(s, value));
      return reasons.includes(null) ? null : reasons[0];
    }
    if (schema.enum && !schema.enum.includes(value)) {
      return `must be one of ${schema.enum.join(", ")}`;
    }
    switch (schema.type) {
      case "null":
        return value === null ? null : "must be null";
      case "boolean":
        return typeof value === "boolean" ? null : "must be true or false";
      case "integer":
      case "number":
        if (typeof value !== "number" || !Number.isFinite(value)) return "must be a number";
        if (schema.type === "integer" && !Number.isInteger(value)) return "must be a whole number";
        if (schema.minimum !== undefined && value < schema.minimum) {
          return `must be at least ${schema.minimum}`;
        }
        if (schema.maximum !== undefined && value > schema.maximum) {
          return `must be at most ${schema.maximum}`;
        }
        return null;
      case "string":
        if (typeof value !== "string") return "must be text";
        // The server counts characters (code points), not UTF-16 units.
        const length = Array.from(value).length;
        if (schema.minLength !== undefined && length < schema.minLength) {
          return schema.minLength === 1 ? "cannot be empty" : `needs ${schema.minLength}+ characters`;
        }
        if (schema.maxLength !== undefined && length > schema.maxLength) {
          return `must have at most ${schema.maxLength} characters`;
        }
        if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) {
          return "cannot be blank";
        }
        return null;
      default:
        return null;
    }
  }
}
