import GraphQL
import OrderedCollections

/// Bounds on what one GraphQL request may ask for, checked before anything is executed.
///
/// Two checks: `scan` reads the raw text before GraphQLSwift's parser (which recurses once per nesting level,
/// so a document nested some thousands of levels deep would overflow the stack), and `check` walks the parsed and
/// validated document, fragments expanded, counting depth, fields, aliases and a cost: each field costs the product
/// of the list sizes above it (`limit` where given — on a page object it sizes the page's list — and `listFactor`
/// for other lists).
public struct GraphQLLimits: Sendable, Equatable {
    public var maxDocumentBytes = 64 << 10
    /// Field nesting (`{ a { b { c } } }` is 3).
    public var maxDepth = 12
    /// Fields after fragments are expanded.
    public var maxFields = 1000
    public var maxAliases = 50
    public var maxCost = 200_000
    /// The size assumed for a list field with no `limit` argument.
    public var listFactor = 10

    public init() {}

    /// The limit a document went past, in words an API user can act on; `setting` names the config key.
    public struct Exceeded: Error, Equatable, CustomStringConvertible {
        public let setting: String
        public let message: String
        public var description: String { "graphql.\(self.setting): \(self.message)" }
    }

    /// Brackets of any kind nested deeper than this in the text are refused before parsing (selection sets, list
    /// and object values and list types all nest with brackets).
    var maxTextNesting: Int { max(self.maxDepth * 2 + 8, 32) }

    /// Size and bracket nesting of the raw text, ignoring strings, block strings and comments. Linear, no recursion.
    /// It also refuses (as a GraphQL syntax error) a `\u` escape without four hex digits, which GraphQLSwift's lexer
    /// cannot survive.
    public func scan(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard bytes.count <= self.maxDocumentBytes else {
            throw Exceeded(setting: "max_document_bytes", message: "the document has \(bytes.count) bytes; at most \(self.maxDocumentBytes) are allowed.")
        }
        var depth = 0
        var index = 0
        let quote = UInt8(ascii: "\"")
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "#"):
                while index < bytes.count, bytes[index] != 0x0A, bytes[index] != 0x0D { index += 1 }
            case quote:
                if index + 2 < bytes.count, bytes[index + 1] == quote, bytes[index + 2] == quote {
                    index += 3
                    while index < bytes.count {
                        if bytes[index] == UInt8(ascii: "\\") { index += 2; continue }
                        if index + 2 < bytes.count, bytes[index] == quote, bytes[index + 1] == quote, bytes[index + 2] == quote {
                            index += 2
                            break
                        }
                        index += 1
                    }
                } else {
                    index += 1
                    while index < bytes.count, bytes[index] != quote, bytes[index] != 0x0A {
                        guard bytes[index] == UInt8(ascii: "\\") else {
                            index += 1
                            continue
                        }
                        // GraphQLSwift's lexer reads the four characters after `\u` without a bound check and traps
                        // on a document that ends sooner (found by fuzzing): such an escape is refused here.
                        if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") {
                            guard index + 5 < bytes.count, bytes[(index + 2)...(index + 5)].allSatisfy(Self.isHexDigit) else {
                                throw GraphQLError(message: "Syntax Error: Invalid character escape sequence (\\u needs four hex digits).")
                            }
                            index += 6
                        } else {
                            index += 2
                        }
                    }
                }
            case UInt8(ascii: "{"), UInt8(ascii: "("), UInt8(ascii: "["):
                depth += 1
                guard depth <= self.maxTextNesting else {
                    throw Exceeded(setting: "max_depth", message: "the document nests brackets deeper than \(self.maxTextNesting) levels.")
                }
            case UInt8(ascii: "}"), UInt8(ascii: ")"), UInt8(ascii: "]"):
                depth = max(0, depth - 1)
            default:
                break
            }
            index += 1
        }
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    /// Depth, fields, aliases and cost of the operation that will run, with `variables` for `limit: $n`.
    public func check(_ document: Document, schema: GraphQLSchema, operationName: String?, variables: [String: Map]) throws {
        var fragments: [String: FragmentDefinition] = [:]
        var operations: [OperationDefinition] = []
        for definition in document.definitions {
            if let fragment = definition as? FragmentDefinition { fragments[fragment.name.value] = fragment }
            if let operation = definition as? OperationDefinition { operations.append(operation) }
        }
        let chosen = operations.filter { operationName == nil || $0.name?.value == operationName }
        struct Frame {
            let selections: SelectionSet
            let parent: (any GraphQLNamedType)?
            let multiplier: Double
            let depth: Int
            let fragmentDepth: Int
            /// A `limit` above was on a page object (`{items total_count}`): the first list below is that page.
            var limitPending = false
        }
        var fields = 0
        var aliases = 0
        var cost = 0.0
        // Every selection visited, fragment spreads and inline fragments too: fragments made only of spreads
        // (`A` spreading `B` four times and `B` spreading `A` four times) select no field but expand without end.
        var visited = 0
        for operation in chosen {
            let root: GraphQLObjectType? = switch operation.operation {
            case .query: schema.queryType
            case .mutation: schema.mutationType
            case .subscription: schema.subscriptionType
            }
            var stack = [Frame(selections: operation.selectionSet, parent: root, multiplier: 1, depth: 1, fragmentDepth: 0)]
            while let frame = stack.popLast() {
                for selection in frame.selections.selections {
                    visited += 1
                    guard visited <= 2 * self.maxFields else {
                        throw Exceeded(setting: "max_fields", message: "the document expands to more than \(2 * self.maxFields) selections (fields and fragment spreads).")
                    }
                    switch selection {
                    case let field as Field:
                        fields += 1
                        if field.alias != nil { aliases += 1 }
                        cost += frame.multiplier
                        guard fields <= self.maxFields else {
                            throw Exceeded(setting: "max_fields", message: "the document selects more than \(self.maxFields) fields (fragments expanded).")
                        }
                        guard aliases <= self.maxAliases else {
                            throw Exceeded(setting: "max_aliases", message: "the document uses more than \(self.maxAliases) aliases.")
                        }
                        guard cost <= Double(self.maxCost) else {
                            throw Exceeded(setting: "max_cost", message: "the document's estimated cost is over \(self.maxCost) (each field counts once per item of every list above it).")
                        }
                        guard let set = field.selectionSet else { continue }
                        guard frame.depth < self.maxDepth else {
                            throw Exceeded(setting: "max_depth", message: "the document nests fields deeper than \(self.maxDepth) levels.")
                        }
                        let type = Self.fieldType(field.name.value, in: frame.parent)
                        let size: Double
                        var pending = frame.limitPending
                        if let limit = Self.limit(of: field, variables: variables) {
                            size = limit
                            pending = !type.isList
                        } else if type.isList {
                            size = frame.limitPending ? 1 : Double(self.listFactor)
                            pending = false
                        } else {
                            size = 1
                        }
                        stack.append(Frame(selections: set, parent: type.named, multiplier: frame.multiplier * size,
                                           depth: frame.depth + 1, fragmentDepth: frame.fragmentDepth, limitPending: pending))
                    case let inline as InlineFragment:
                        let parent = inline.typeCondition.flatMap { schema.getType(name: $0.name.value) } ?? frame.parent
                        stack.append(Frame(selections: inline.selectionSet, parent: parent, multiplier: frame.multiplier,
                                           depth: frame.depth, fragmentDepth: frame.fragmentDepth, limitPending: frame.limitPending))
                    case let spread as FragmentSpread:
                        // Validation refuses cycles; the depth bound holds even so.
                        guard let fragment = fragments[spread.name.value], frame.fragmentDepth < self.maxDepth else { continue }
                        stack.append(Frame(selections: fragment.selectionSet, parent: schema.getType(name: fragment.typeCondition.name.value),
                                           multiplier: frame.multiplier, depth: frame.depth, fragmentDepth: frame.fragmentDepth + 1,
                                           limitPending: frame.limitPending))
                    default:
                        continue
                    }
                }
            }
        }
    }

    /// `limit: 20` or `limit: $n`, clamped to a sane range.
    static func limit(of field: Field, variables: [String: Map]) -> Double? {
        guard let argument = field.arguments.first(where: { $0.name.value == "limit" }) else { return nil }
        var value: Double?
        if let literal = argument.value as? IntValue {
            value = Double(literal.value)
        } else if let variable = argument.value as? Variable {
            value = variables[variable.name.value]?.int.map(Double.init)
        }
        return value.map { min(max($0, 1), 1_000_000) }
    }

    /// The named type of `name` on `parent`, and whether it is a list.
    static func fieldType(_ name: String, in parent: (any GraphQLNamedType)?) -> (named: (any GraphQLNamedType)?, isList: Bool) {
        let map: GraphQLFieldMap?
        switch parent {
        case let object as GraphQLObjectType: map = try? object.fields()
        case let interface as GraphQLInterfaceType: map = try? interface.fields()
        default: map = nil
        }
        guard let type = map?[name]?.type else { return (nil, false) }
        var unwrapped: any GraphQLType = type
        if let nonNull = unwrapped as? GraphQLNonNull { unwrapped = nonNull.ofType }
        let isList = unwrapped is GraphQLList
        return (getNamedType(type: type), isList)
    }
}
