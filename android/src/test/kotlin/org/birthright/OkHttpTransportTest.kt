package org.birthright

import okhttp3.mockwebserver.MockResponse
import okhttp3.mockwebserver.MockWebServer
import okhttp3.mockwebserver.SocketPolicy
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import uniffi.birthright_ffi.HttpMethod
import uniffi.birthright_ffi.HttpRequest
import uniffi.birthright_ffi.TransportException

class OkHttpTransportTest {
    @Test
    fun postsTheBodyAndReturnsStatusRetryAfterAndBody() {
        MockWebServer().use { server ->
            server.enqueue(MockResponse().setResponseCode(429).setHeader("Retry-After", "7").setBody("slow down"))
            server.start()
            val transport = OkHttpTransport(server.url("/").toString())
            val response = transport.send(HttpRequest(HttpMethod.POST, "/v1/batches", "application/cbor", byteArrayOf(1, 2, 3)))
            assertEquals(429, response.status.toInt())
            assertEquals(7uL, response.retryAfterSecs)
            assertArrayEquals("slow down".toByteArray(), response.body)
            val recorded = server.takeRequest()
            assertEquals("/v1/batches", recorded.path)
            assertEquals("application/cbor", recorded.getHeader("Content-Type"))
            assertArrayEquals(byteArrayOf(1, 2, 3), recorded.body.readByteArray())
        }
    }

    @Test(expected = TransportException.Failed::class)
    fun aDroppedConnectionIsATransportFailure() {
        MockWebServer().use { server ->
            server.enqueue(MockResponse().setSocketPolicy(SocketPolicy.DISCONNECT_AT_START))
            server.start()
            OkHttpTransport(server.url("/").toString()).send(HttpRequest(HttpMethod.GET, "/v1/checkpoint", null, ByteArray(0)))
        }
    }
}
