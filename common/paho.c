/*
 * paho.c - which Paho library serves a URL (see paho.h). Built twice: as is
 * into libcommon.a (one TLS-capable Paho for every URL), and with
 * -DSW_PAHO_SPLIT for the static publisher (the renamed plain Paho for
 * tcp://, the renamed TLS Paho for ssl://).
 */
#include "common/paho.h"

#define PAHO_TABLE(name, p)                                                  \
	{                                                                    \
		.variant = name,                                             \
		.global_init = p##MQTTAsync_global_init,                     \
		.setTraceLevel = p##MQTTAsync_setTraceLevel,                 \
		.createWithOptions = p##MQTTAsync_createWithOptions,         \
		.setCallbacks = p##MQTTAsync_setCallbacks,                   \
		.connect = p##MQTTAsync_connect,                             \
		.disconnect = p##MQTTAsync_disconnect,                       \
		.isConnected = p##MQTTAsync_isConnected,                     \
		.subscribeMany = p##MQTTAsync_subscribeMany,                 \
		.unsubscribeMany = p##MQTTAsync_unsubscribeMany,             \
		.getVersionInfo = p##MQTTAsync_getVersionInfo,               \
		.sendMessage = p##MQTTAsync_sendMessage,                     \
		.getPendingTokens = p##MQTTAsync_getPendingTokens,           \
		.freeMessage = p##MQTTAsync_freeMessage,                     \
		.free = p##MQTTAsync_free,                                   \
		.destroy = p##MQTTAsync_destroy,                             \
		.strerror = p##MQTTAsync_strerror,                           \
		.setDisconnected = p##MQTTAsync_setDisconnected,             \
		.propsAdd = p##MQTTProperties_add,                           \
		.propsFree = p##MQTTProperties_free,                         \
		.propsHas = p##MQTTProperties_hasProperty,                   \
		.propsNumber = p##MQTTProperties_getNumericValue,            \
		.reasonString = p##MQTTReasonCode_toString,                  \
		.flushHeld = p##sw_paho_flush,                               \
	}

#ifdef SW_PAHO_SPLIT
/* libpaho-mqtt3a and libpaho-mqtt3as with every global symbol prefixed
 * (objcopy --redefine-syms in the Makefile) */
#define SWPAHO(f) extern __typeof__(f) swtcp_##f, swtls_##f
SWPAHO(MQTTAsync_global_init);
SWPAHO(MQTTAsync_setTraceLevel);
SWPAHO(MQTTAsync_createWithOptions);
SWPAHO(MQTTAsync_setCallbacks);
SWPAHO(MQTTAsync_connect);
SWPAHO(MQTTAsync_disconnect);
SWPAHO(MQTTAsync_isConnected);
SWPAHO(MQTTAsync_subscribeMany);
SWPAHO(MQTTAsync_unsubscribeMany);
SWPAHO(MQTTAsync_getVersionInfo);
SWPAHO(MQTTAsync_sendMessage);
SWPAHO(MQTTAsync_getPendingTokens);
SWPAHO(MQTTAsync_freeMessage);
SWPAHO(MQTTAsync_free);
SWPAHO(MQTTAsync_destroy);
SWPAHO(MQTTAsync_strerror);
SWPAHO(MQTTAsync_setDisconnected);
SWPAHO(MQTTProperties_add);
SWPAHO(MQTTProperties_free);
SWPAHO(MQTTProperties_hasProperty);
SWPAHO(MQTTProperties_getNumericValue);
SWPAHO(MQTTReasonCode_toString);
SWPAHO(sw_paho_flush);

static const struct paho_api plain = PAHO_TABLE("tcp", swtcp_);
static const struct paho_api tls = PAHO_TABLE("tls", swtls_);

const struct paho_api *paho_for(bool want_tls)
{
	return want_tls ? &tls : &plain;
}
#else
static const struct paho_api one = PAHO_TABLE("tcp+tls", );

const struct paho_api *paho_for(bool want_tls)
{
	(void)want_tls;
	return &one;
}
#endif
