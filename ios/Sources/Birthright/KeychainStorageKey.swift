import Foundation
import Security

/// The 32-byte storage key of the device store, made once from the system's secure random
/// generator and kept in the Keychain as `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`:
/// readable after the first unlock since boot, also while the phone is locked again (so a
/// background sync can open the store), never migrated to another device by a backup or a
/// device transfer.
public enum KeychainStorageKey {
    static let service = "org.birthright.storage-key"
    static let accessible = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly

    public enum Failure: Error {
        case keychain(OSStatus)
        case random(OSStatus)
    }

    public static func get() throws -> Data {
        if let key = try existing() {
            return key
        }
        var key = Data(count: 32)
        let random = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard random == errSecSuccess else { throw Failure.random(random) }
        let add: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccessible as String: accessible,
            kSecValueData as String: key,
        ]
        let added = SecItemAdd(add as CFDictionary, nil)
        if added == errSecDuplicateItem, let key = try existing() {
            // Another caller created it first (a first launch racing a background task): use
            // theirs, the one the store will be created with.
            return key
        }
        guard added == errSecSuccess else { throw Failure.keychain(added) }
        return key
    }

    /// The stored key, or nil when there is none yet. While the phone has not been unlocked
    /// since boot the Keychain answers `errSecInteractionNotAllowed`: thrown, never taken for
    /// "no key" (a new key would orphan the store).
    private static func existing() throws -> Data? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound {
            return nil
        }
        guard status == errSecSuccess, let data = item as? Data, data.count == 32 else {
            throw Failure.keychain(status)
        }
        // An item written by an earlier version (readable only while unlocked) is moved to the
        // class above, so later background syncs can read it.
        let match: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
        ]
        _ = SecItemUpdate(match as CFDictionary, [kSecAttrAccessible as String: accessible] as CFDictionary)
        return data
    }
}
