/*
 * ds18b20.h - the pure parts of the ds18b20 driver, for its unit test:
 * parsing w1_slave and judging a temperature. No I/O, no allocation.
 */
#ifndef SW_DS18B20_H
#define SW_DS18B20_H

#include "publisher/sensor.h"

/*
 * Parses the two lines of w1_slave into *milli (milli-°C). Returns 0,
 * -EAGAIN when the CRC line says NO or the scratchpad is all zeros (a
 * shorted bus passes the CRC), -EIO when the text is not in that format.
 * *kind says which failure it was.
 */
int ds18b20_parse_w1_slave(const char *text, long *milli, enum sensor_fail *kind);

/*
 * 0 if milli is a believable reading; -EAGAIN for the 85 °C power-on value
 * (85000 exactly: the conversion did not run) and for anything outside the
 * sensor's -55..125 °C (e.g. -127 °C, the "disconnected" value some stacks
 * report).
 */
int ds18b20_check_milli(long milli, enum sensor_fail *kind);

#endif
