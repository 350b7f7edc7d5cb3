package org.birthright

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The 32-byte storage key of the device store. A random key is made once and kept wrapped
 * (AES-GCM) by a non-exportable key in the Android Keystore, so a copied database and preferences
 * file are useless without this phone's secure hardware.
 *
 * [get] is safe to call from several threads at once on a first launch: creation (of the
 * Keystore key and of the wrapped storage key) runs under one lock and re-checks the stored key
 * first, so two callers cannot make two keys and leave the store encrypted under the one that
 * lost. The preferences file `birthright.xml` holding the wrapped key must be excluded from Auto
 * Backup and device transfer (see `res/xml/` and README.md): restored on another phone it cannot
 * be unwrapped there.
 */
object KeystoreStorageKey {
    private const val ALIAS = "birthright-storage-wrapping-key"
    private const val PREFS = "birthright"
    private const val WRAPPED = "wrapped_storage_key"

    fun get(context: Context): ByteArray {
        val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
        return once.get(
            load = { prefs.getString(WRAPPED, null)?.let { unwrap(Base64.decode(it, Base64.NO_WRAP)) } },
            create = {
                val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
                val wrapped = wrap(key)
                check(prefs.edit().putString(WRAPPED, Base64.encodeToString(wrapped, Base64.NO_WRAP)).commit()) {
                    "could not save the wrapped storage key"
                }
                key
            },
        )
    }

    /** Serialises creation across every [get]. */
    private val once = CreateOnce()

    private fun existingWrappingKey(): SecretKey? {
        val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
        return (keyStore.getEntry(ALIAS, null) as? KeyStore.SecretKeyEntry)?.secretKey
    }

    /** Only called under [once]'s lock (from `create`), so the Keystore key is made once. */
    private fun wrappingKey(): SecretKey {
        existingWrappingKey()?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private fun wrap(key: ByteArray): ByteArray {
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey())
        return cipher.iv + cipher.doFinal(key)
    }

    private fun unwrap(wrapped: ByteArray): ByteArray {
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        // Never make a new Keystore key here: it could not unwrap a key wrapped by the old one.
        val wrappingKey = checkNotNull(existingWrappingKey()) {
            "the Keystore key that wraps the storage key is missing (preferences restored from a " +
                "backup or another phone?): this device store cannot be opened on this phone"
        }
        cipher.init(Cipher.DECRYPT_MODE, wrappingKey, GCMParameterSpec(128, wrapped, 0, 12))
        return cipher.doFinal(wrapped, 12, wrapped.size - 12)
    }
}
