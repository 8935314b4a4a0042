import GraphQL

/// Refuses, before GraphQLSwift validates a document, what its validation cannot survive.
///
/// GraphQLSwift's `OperationDefinition` and `FragmentDefinition` hash by identity but compare by value, and its
/// validation keeps dictionaries keyed by them: two equal definitions in one document (`{ x } { x }`, found by
/// fuzzing) can trap the process ("Duplicate keys … were found in a Dictionary"). Equal definitions have the same
/// name, so refusing what the spec refuses anyway — two operations of one name, an anonymous operation beside
/// another, two fragments of one name — removes the case. The messages are the validation rules' own.
enum GraphQLDocumentGuard {
    static func check(_ document: Document) throws {
        var operationNames = Set<String>()
        var anonymous = 0
        var operations = 0
        var fragmentNames = Set<String>()
        for definition in document.definitions {
            if let operation = definition as? OperationDefinition {
                operations += 1
                if let name = operation.name?.value {
                    guard operationNames.insert(name).inserted else {
                        throw GraphQLError(message: "There can be only one operation named \"\(name.prefix(64))\".")
                    }
                } else {
                    anonymous += 1
                }
            } else if let fragment = definition as? FragmentDefinition {
                guard fragmentNames.insert(fragment.name.value).inserted else {
                    throw GraphQLError(message: "There can be only one fragment named \"\(fragment.name.value.prefix(64))\".")
                }
            }
        }
        if anonymous > 0 && operations > 1 {
            throw GraphQLError(message: "This anonymous operation must be the only defined operation.")
        }
    }
}
