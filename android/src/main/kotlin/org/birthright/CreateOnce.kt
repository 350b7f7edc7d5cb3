package org.birthright

/**
 * Get-or-create under one lock, so two callers racing on a first launch (the UI and a
 * background sync worker, say) cannot both create: the first creates, the second finds what the
 * first stored. `load` is tried without the lock first (the common case once created), then
 * again under the lock before `create` runs (double-checked). Keep one instance per thing
 * created. Plain Kotlin, no Android classes, so the host JVM tests in `bindings/tests/kotlin`
 * exercise it. One process only: keep the store and its key in the app's main process.
 */
class CreateOnce {
    private val lock = Any()

    fun <T : Any> get(load: () -> T?, create: () -> T): T = load() ?: synchronized(lock) { load() ?: create() }
}
