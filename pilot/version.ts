/** The pilot's version, sent at registration. */
export const PILOT_VERSION = '0.1.0';
