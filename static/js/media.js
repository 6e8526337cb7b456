export async function listen() { throw new Error("audio is not set up on this server"); }
export async function speak() { throw new Error("audio is not set up on this server"); }
export async function stop() {}
export function setMuted() {}
