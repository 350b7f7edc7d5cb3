package org.birthright

import java.io.IOException
import java.util.concurrent.TimeUnit
import okhttp3.MediaType.Companion.toMediaTypeOrNull
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.RequestBody.Companion.toRequestBody
import uniffi.birthright_ffi.HttpMethod
import uniffi.birthright_ffi.HttpRequest
import uniffi.birthright_ffi.HttpResponse
import uniffi.birthright_ffi.Transport
import uniffi.birthright_ffi.TransportException

/**
 * The core's sync and enrolment over OkHttp. Timeouts suit 2G: a slow link is waited for, a dead
 * one fails and the core retries with back-off. Call `Device.sync` off the main thread.
 */
class OkHttpTransport(
    private val baseUrl: String,
    private val client: OkHttpClient = OkHttpClient.Builder()
        .connectTimeout(20, TimeUnit.SECONDS)
        .readTimeout(90, TimeUnit.SECONDS)
        .writeTimeout(90, TimeUnit.SECONDS)
        .retryOnConnectionFailure(false) // the core retries, with the identical sealed batch
        .build(),
) : Transport {
    override fun send(request: HttpRequest): HttpResponse {
        val builder = Request.Builder().url(baseUrl.trimEnd('/') + request.path)
        if (request.method == HttpMethod.POST) {
            builder.post(request.body.toRequestBody(request.contentType?.toMediaTypeOrNull()))
        }
        try {
            client.newCall(builder.build()).execute().use { response ->
                return HttpResponse(
                    response.code.toUShort(),
                    response.header("Retry-After")?.trim()?.toULongOrNull(),
                    response.body?.bytes() ?: ByteArray(0),
                )
            }
        } catch (e: IOException) {
            throw TransportException.Failed(e.toString())
        }
    }
}
