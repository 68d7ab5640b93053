/*
 * paho.h - the Paho MQTTAsync entry points mqtt.c calls, as a table.
 *
 * A normal (dynamic) build links libpaho-mqtt3as and both tables are the same.
 * The static publisher build (Makefile, PUBLISHER_STATIC=1) links two Paho
 * variants: libpaho-mqtt3a for tcp:// and libpaho-mqtt3as for ssl://, each
 * with its symbols renamed ("swtcp_", "swtls_" prefixes). Paho's TLS variant sets OpenSSL up when the
 * first client is created, whatever the URL; so a publisher on a plain
 * in-cluster broker never touches OpenSSL's code and stays under 2 MiB
 * resident, and one binary still speaks TLS. paho.c compiled with
 * -DSW_PAHO_SPLIT provides that table; the publisher links
 * libcommon-split.a, which holds it instead of the plain paho.o.
 */
#ifndef SW_PAHO_H
#define SW_PAHO_H

#include <MQTTAsync.h>
#include <MQTTProperties.h>
#include <MQTTReasonCodes.h>
#include <stdbool.h>

#include "common/paho_sockbuf.h"

struct paho_api {
	const char *variant; /* "tcp+tls" (one library), "tcp", "tls" */
	__typeof__(MQTTAsync_global_init) *global_init;
	__typeof__(MQTTAsync_setTraceLevel) *setTraceLevel;
	__typeof__(MQTTAsync_createWithOptions) *createWithOptions;
	__typeof__(MQTTAsync_setCallbacks) *setCallbacks;
	__typeof__(MQTTAsync_connect) *connect;
	__typeof__(MQTTAsync_disconnect) *disconnect;
	__typeof__(MQTTAsync_isConnected) *isConnected;
	__typeof__(MQTTAsync_subscribeMany) *subscribeMany;
	__typeof__(MQTTAsync_unsubscribeMany) *unsubscribeMany;
	__typeof__(MQTTAsync_getVersionInfo) *getVersionInfo;
	__typeof__(MQTTAsync_sendMessage) *sendMessage;
	__typeof__(MQTTAsync_getPendingTokens) *getPendingTokens;
	__typeof__(MQTTAsync_freeMessage) *freeMessage;
	__typeof__(MQTTAsync_free) *free;
	__typeof__(MQTTAsync_destroy) *destroy;
	__typeof__(MQTTAsync_strerror) *strerror;
	/* MQTT 5 */
	__typeof__(MQTTAsync_setDisconnected) *setDisconnected;
	__typeof__(MQTTProperties_add) *propsAdd;
	__typeof__(MQTTProperties_free) *propsFree;
	__typeof__(MQTTProperties_hasProperty) *propsHas;
	__typeof__(MQTTProperties_getNumericValue) *propsNumber;
	__typeof__(MQTTReasonCode_toString) *reasonString;
	/* common/paho_sockbuf.c, in the same archive copy */
	__typeof__(sw_paho_flush) *flushHeld;
};

/* The Paho to use for a TLS (ssl://) or a plain (tcp://) connection. */
const struct paho_api *paho_for(bool tls);

#endif
