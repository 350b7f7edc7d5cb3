import Foundation
import Security

/// The 32-byte storage key of the device store, made once from the system's secure random
/// generator and kept in the Keychain, readable only when this device is unlocked and never
/// migrated to another device by a backup.
public enum KeychainStorageKey {
    static let service = "org.birthright.storage-key"

    public enum Failure: Error {
        case keychain(OSStatus)
        case random(OSStatus)
    }

    public static func get() throws -> Data {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let data = item as? Data, data.count == 32 {
            return data
        }
        if status != errSecItemNotFound {
            throw Failure.keychain(status)
        }
        var key = Data(count: 32)
        let random = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard random == errSecSuccess else { throw Failure.random(random) }
        let add: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccessible as String: kSecAttrAccessibleWhenUnlockedThisDeviceOnly,
            kSecValueData as String: key,
        ]
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else { throw Failure.keychain(added) }
        return key
    }
}
