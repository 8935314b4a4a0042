import SchedulerKit
import Testing

@Suite struct SlotAmountTests {
    @Test("amounts parse exactly", arguments: [
        ("1", "1"), ("0.5", "0.5"), ("512m", "536870912"), ("1g", "1073741824"), ("1.5g", "1610612736"),
        ("2GiB", "2147483648"), (" 4 ", "4"), ("0.001", "0.001"), ("0.0004", "0"), ("0.0005", "0.001"), ("8p", "9007199254740992"),
    ])
    func parses(text: String, expected: String) {
        #expect(SlotAmount(parsing: text)?.description == expected)
    }

    @Test("bad amounts are refused", arguments: ["", "-1", "abc", "1.2.3", "1x", ".", "1e3", "9p", "99999999999999999999"])
    func refuses(text: String) {
        #expect(SlotAmount(parsing: text) == nil)
    }

    @Test("sums are exact where floating point is not")
    func exactSums() throws {
        var total = SlotAmount.zero
        for _ in 0..<10 { total = total + (try #require(SlotAmount(parsing: "0.1"))) }
        #expect(total == SlotAmount(1))
    }

    @Test("slots compare per name, a missing slot counting as zero")
    func exceeding() throws {
        let request = try ResourceSlots.parse(.object([("cpu", .string("2")), ("mem", .string("1g")), ("cuda.device", .number(1))])).get()
        let capacity = try ResourceSlots.parse(.object([("cpu", .string("4")), ("mem", .string("512m"))])).get()
        #expect(request.exceeding(capacity) == ["mem", "cuda.device"])
        #expect(request.exceedingLimits(capacity) == ["mem"])
        #expect((capacity - request)["cpu"] == SlotAmount(2))
        #expect((capacity - request)["mem"] == .zero)
        #expect(ResourceSlots.parse(.object([("cpu", .string("x"))])) == .failure(.badAmount(slot: "cpu")))
        #expect(request.json.text == #"{"cpu": "2", "mem": "1073741824", "cuda.device": "1"}"#)
    }
}
