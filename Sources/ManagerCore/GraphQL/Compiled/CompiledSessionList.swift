import Foundation
import GraphQL
import SchedulerKit

/// A `compute_session_list` document compiled once into a plan and executed by writing the response's JSON bytes
/// straight from the page's records — what every `backend.ai ps` sends, many times a second on a busy
/// installation. GraphQLSwift completes each of 100 items × N fields through `Map` values; the plan knows the
/// selection in advance and writes it.
///
/// The plan covers the shape clients send: one query operation whose only root field is `compute_session_list`
/// (aliases allowed), arguments as literals or variables of the declared scalar types, `items` with leaf fields,
/// `containers { … }` and `dependencies { … }`, and `total_count`. Anything else — fragments, directives,
/// `__typename`, a repeated field with a selection, variables with defaults — is not compiled, and neither is a request
/// whose variables or arguments would make GraphQLSwift report an error: the caller then runs the general path,
/// which stays the reference for validation, errors and every other document. Output is byte for byte the
/// general path's (`CompiledSessionListTests` runs both on every document the CLI sends).
struct CompiledSessionList: Sendable {
    /// The scalar types a variable of a compiled document may have.
    enum VariableType: Sendable, Equatable {
        case int, string, uuid
    }

    struct Variable: Sendable {
        let type: VariableType
        let nonNull: Bool
    }

    /// Where an argument's value comes from.
    enum Argument: Sendable {
        case int(Int)
        case string(String)
        case null
        case variable(String)
    }

    enum ItemField: Sendable {
        case session(key: [UInt8], SessionField)
        case containers(key: [UInt8], [(key: [UInt8], field: ContainerField)])
        /// `dependencies { name id }`: loaded for the whole page in one query (GraphQLSwift asks once per row).
        case dependencies(key: [UInt8], [(key: [UInt8], field: DependencyField)])
    }

    enum DependencyField: String, Sendable {
        case name, id
    }

    enum PageField: Sendable {
        case items(key: [UInt8], [ItemField])
        case totalCount(key: [UInt8])
    }

    let variables: [String: Variable]
    let arguments: [String: Argument]
    /// `{"data":{"<root>":` with the root field's response key.
    let prefix: [UInt8]
    let page: [PageField]
    /// The costly columns the selected fields read; the store leaves the others unread.
    let detail: SessionDetail

    static let argumentTypes: [String: VariableType] = [
        "limit": .int, "offset": .int, "status": .string, "access_key": .string, "filter": .string, "order": .string,
        "domain_name": .string, "group_id": .uuid,
    ]

    // MARK: Compiling

    /// The plan for `document`'s operation, or nil when the document is outside what a plan covers.
    /// `document` has been validated against the schema.
    static func compile(_ document: Document, operationName: String?) -> CompiledSessionList? {
        var operations: [OperationDefinition] = []
        for definition in document.definitions {
            guard let operation = definition as? OperationDefinition else { return nil }
            operations.append(operation)
        }
        let chosen: OperationDefinition?
        if let operationName {
            chosen = operations.first { $0.name?.value == operationName }
        } else {
            chosen = operations.count == 1 ? operations.first : nil
        }
        guard let operation = chosen, operation.operation == .query, operation.directives.isEmpty,
            operation.selectionSet.selections.count == 1, let root = operation.selectionSet.selections.first as? Field,
            root.name.value == "compute_session_list", root.directives.isEmpty, let pageSelection = root.selectionSet
        else { return nil }

        var variables: [String: Variable] = [:]
        for definition in operation.variableDefinitions {
            guard definition.defaultValue == nil, definition.directives.isEmpty,
                let variable = Self.variable(definition.type)
            else { return nil }
            variables[definition.variable.name.value] = variable
        }
        var arguments: [String: Argument] = [:]
        for argument in root.arguments {
            let name = argument.name.value
            guard let type = Self.argumentTypes[name], arguments[name] == nil else { return nil }
            switch argument.value {
            case let value as IntValue:
                guard type == .int, let number = Int(value.value) else { return nil }
                arguments[name] = .int(number)
            case let value as StringValue:
                guard type != .int else { return nil }
                if type == .uuid, UUID(uuidString: value.value) == nil { return nil }
                arguments[name] = .string(value.value)
            case is NullValue:
                arguments[name] = .null
            case let value as GraphQL.Variable:
                guard let declared = variables[value.name.value], declared.type == type else { return nil }
                arguments[name] = .variable(value.name.value)
            default:
                return nil
            }
        }
        guard let page = Self.page(pageSelection) else { return nil }
        var detail: SessionDetail = []
        for case .items(_, let itemFields) in page {
            for field in itemFields {
                switch field {
                case .session(_, let sessionField): detail.formUnion(sessionField.detail)
                case .containers(_, let leaves): for leaf in leaves { detail.formUnion(leaf.field.detail) }
                case .dependencies: continue
                }
            }
        }
        return CompiledSessionList(
            variables: variables, arguments: arguments,
            prefix: Array("{\"data\":{\"\(Self.responseKey(root))\":".utf8), page: page, detail: detail)
    }

    private static func variable(_ type: any GraphQL.`Type`) -> Variable? {
        var nonNull = false
        var inner = type
        if let wrapped = type as? NonNullType {
            nonNull = true
            inner = wrapped.type
        }
        guard let named = inner as? NamedType else { return nil }
        switch named.name.value {
        case "Int": return Variable(type: .int, nonNull: nonNull)
        case "String": return Variable(type: .string, nonNull: nonNull)
        case "UUID": return Variable(type: .uuid, nonNull: nonNull)
        default: return nil
        }
    }

    private static func page(_ selection: SelectionSet) -> [PageField]? {
        var keys = Set<String>()
        var fields: [PageField] = []
        for field in selection.selections {
            guard let field = field as? Field, field.directives.isEmpty, field.arguments.isEmpty,
                keys.insert(Self.responseKey(field)).inserted
            else { return nil }
            let key = Self.key(field)
            switch field.name.value {
            case "items":
                guard let items = field.selectionSet, let itemFields = Self.items(items) else { return nil }
                fields.append(.items(key: key, itemFields))
            case "total_count":
                guard field.selectionSet == nil else { return nil }
                fields.append(.totalCount(key: key))
            default:
                return nil
            }
        }
        return fields
    }

    private static func items(_ selection: SelectionSet) -> [ItemField]? {
        var fields: [(responseKey: String, name: String, field: ItemField)] = []
        for field in selection.selections {
            guard let field = field as? Field, field.directives.isEmpty, field.arguments.isEmpty else { return nil }
            let responseKey = Self.responseKey(field)
            let existing = fields.firstIndex { $0.responseKey == responseKey }
            // A field selected again under the same key merges into the first, as GraphQL's field collection does
            // (the client's `--format` with every option asks for `dependencies { name id }` twice); one key for two
            // different fields is not covered.
            if let existing, fields[existing].name != field.name.value { return nil }
            let item: ItemField
            switch field.name.value {
            case "containers":
                guard let leaves = Self.leaves(field.selectionSet, ContainerField.init(rawValue:)) else { return nil }
                if let existing, case .containers(let key, let first) = fields[existing].field {
                    guard let merged = Self.merge(first, leaves) else { return nil }
                    fields[existing].field = .containers(key: key, merged)
                    continue
                }
                item = .containers(key: Self.key(field), leaves)
            case "dependencies":
                guard let leaves = Self.leaves(field.selectionSet, DependencyField.init(rawValue:)) else { return nil }
                if let existing, case .dependencies(let key, let first) = fields[existing].field {
                    guard let merged = Self.merge(first, leaves) else { return nil }
                    fields[existing].field = .dependencies(key: key, merged)
                    continue
                }
                item = .dependencies(key: Self.key(field), leaves)
            default:
                guard field.selectionSet == nil, let sessionField = SessionField(rawValue: field.name.value) else { return nil }
                if existing != nil { continue }
                item = .session(key: Self.key(field), sessionField)
            }
            fields.append((responseKey, field.name.value, item))
        }
        return fields.map(\.field)
    }

    /// The leaf fields of a nested object's selection, each response key once (a repeated leaf merges into the
    /// first; one key for two different fields is not covered).
    private static func leaves<Leaf: Equatable>(
        _ selection: SelectionSet?, _ leaf: (String) -> Leaf?
    ) -> [(key: [UInt8], field: Leaf)]? {
        guard let selection else { return nil }
        var leaves: [(key: [UInt8], field: Leaf)] = []
        for field in selection.selections {
            guard let field = field as? Field, field.directives.isEmpty, field.arguments.isEmpty, field.selectionSet == nil,
                let value = leaf(field.name.value)
            else { return nil }
            guard let merged = Self.merge(leaves, [(Self.key(field), value)]) else { return nil }
            leaves = merged
        }
        return leaves
    }

    /// `first` followed by the leaves of `more` whose response keys it lacks; nil where a key names two fields.
    private static func merge<Leaf: Equatable>(
        _ first: [(key: [UInt8], field: Leaf)], _ more: [(key: [UInt8], field: Leaf)]
    ) -> [(key: [UInt8], field: Leaf)]? {
        var merged = first
        for leaf in more {
            if let present = merged.first(where: { $0.key == leaf.key }) {
                guard present.field == leaf.field else { return nil }
                continue
            }
            merged.append(leaf)
        }
        return merged
    }

    private static func responseKey(_ field: Field) -> String { field.alias?.value ?? field.name.value }

    /// `"<response key>":`; GraphQL names need no escaping.
    private static func key(_ field: Field) -> [UInt8] { Array("\"\(Self.responseKey(field))\":".utf8) }

    // MARK: Executing

    /// The response body, or nil when the general path must answer (a variable GraphQLSwift would coerce
    /// differently or refuse, an argument a resolver refuses, a store failure): it reports those as errors.
    func execute(variables values: [String: Map], context: GraphQLContext) async -> [UInt8]? {
        guard let arguments = self.coerce(values) else { return nil }
        guard let (items, total) = try? await SessionSchema.list(arguments, detail: self.detail, context: context) else {
            return nil
        }
        var dependencies: [UUID: [(name: String, id: UUID)]] = [:]
        if self.loadsDependencies, !items.isEmpty {
            guard let loaded = try? await context.sessions.dependencyNames(of: items.map(\.id)) else { return nil }
            dependencies = loaded
        }
        var writer = GraphQLJSONWriter(capacity: 512 + items.count * 512)
        writer.raw(self.prefix)
        writer.byte(UInt8(ascii: "{"))
        for (index, field) in self.page.enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            switch field {
            case .totalCount(let key):
                writer.raw(key)
                writer.int(total)
            case .items(let key, let itemFields):
                writer.raw(key)
                writer.byte(UInt8(ascii: "["))
                for (itemIndex, item) in items.enumerated() {
                    if itemIndex > 0 { writer.byte(UInt8(ascii: ",")) }
                    Self.write(item, itemFields, dependencies: dependencies[item.id] ?? [], into: &writer)
                }
                writer.byte(UInt8(ascii: "]"))
            }
        }
        writer.raw("}}}")
        return writer.bytes
    }

    private var loadsDependencies: Bool {
        self.page.contains { field in
            guard case .items(_, let itemFields) = field else { return false }
            return itemFields.contains { if case .dependencies = $0 { true } else { false } }
        }
    }

    private static func write(
        _ session: SessionRecord, _ fields: [ItemField], dependencies: [(name: String, id: UUID)],
        into writer: inout GraphQLJSONWriter
    ) {
        writer.byte(UInt8(ascii: "{"))
        for (index, field) in fields.enumerated() {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            switch field {
            case .session(let key, let sessionField):
                writer.raw(key)
                writer.value(sessionField.value(of: session))
            case .containers(let key, let containerFields):
                writer.raw(key)
                writer.raw("[{")
                for (leafIndex, leaf) in containerFields.enumerated() {
                    if leafIndex > 0 { writer.byte(UInt8(ascii: ",")) }
                    writer.raw(leaf.key)
                    writer.value(leaf.field.value(of: session))
                }
                writer.raw("}]")
            case .dependencies(let key, let leaves):
                writer.raw(key)
                writer.byte(UInt8(ascii: "["))
                for (dependencyIndex, dependency) in dependencies.enumerated() {
                    if dependencyIndex > 0 { writer.byte(UInt8(ascii: ",")) }
                    writer.byte(UInt8(ascii: "{"))
                    for (leafIndex, leaf) in leaves.enumerated() {
                        if leafIndex > 0 { writer.byte(UInt8(ascii: ",")) }
                        writer.raw(leaf.key)
                        switch leaf.field {
                        case .name: writer.string(dependency.name)
                        case .id: writer.value(.uuid(dependency.id))
                        }
                    }
                    writer.byte(UInt8(ascii: "}"))
                }
                writer.byte(UInt8(ascii: "]"))
            }
        }
        writer.byte(UInt8(ascii: "}"))
    }

    /// The resolver's arguments from the literals and the request's variables, coerced as GraphQLSwift coerces
    /// them; nil where GraphQLSwift would report an error or convert a value (a non-integral Int).
    func coerce(_ values: [String: Map]) -> SessionSchema.SessionListArguments? {
        var ints: [String: Int] = [:]
        var strings: [String: String] = [:]
        for (name, argument) in self.arguments {
            switch argument {
            case .int(let number): ints[name] = number
            case .string(let text): strings[name] = text
            case .null: continue
            case .variable(let variableName):
                guard let variable = self.variables[variableName] else { return nil }
                switch values[variableName] ?? .undefined {
                case .undefined, .null:
                    if variable.nonNull { return nil }
                case .number(let number):
                    let double = number.doubleValue
                    guard variable.type == .int, double.isFinite, double.rounded() == double,
                        Double(Int32.min) <= double, double <= Double(Int32.max)
                    else { return nil }
                    ints[name] = Int(double)
                case .string(let text):
                    switch variable.type {
                    case .int: return nil
                    case .string: strings[name] = text
                    case .uuid:
                        guard UUID(uuidString: text) != nil else { return nil }
                        strings[name] = text
                    }
                default:
                    return nil
                }
            }
        }
        // A declared variable no argument uses is a validation error; one the request left out that is non-null
        // is GraphQLSwift's to report.
        for (name, variable) in self.variables where variable.nonNull {
            switch values[name] ?? .undefined {
            case .undefined, .null: return nil
            default: continue
            }
        }
        return SessionSchema.SessionListArguments(
            limit: ints["limit"], offset: ints["offset"], status: strings["status"], accessKey: strings["access_key"],
            filter: strings["filter"], order: strings["order"])
    }
}
